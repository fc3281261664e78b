from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from ketaclinic.website.rendering import comment_html

register = template.Library()


@register.filter
def comment_markup(text: str) -> SafeString:
    return comment_html(text)
