from __future__ import annotations

from django import template

from ketaclinic.portal.services import crisis_line as _crisis_line

register = template.Library()


@register.simple_tag
def crisis_line() -> dict[str, str]:
    """The configured crisis line (settings PORTAL_CRISIS_NUMBER, default 988)."""
    return _crisis_line()
