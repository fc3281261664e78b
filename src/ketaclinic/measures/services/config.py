"""The clinic's settings the questionnaires depend on: link lifetime, reminders, the site's base URL."""

from __future__ import annotations

from django.conf import settings

from ketaclinic import links


def link_hours() -> int:
    """Hours a questionnaire link stays valid (settings.KETACLINIC_LINK_HOURS, default 72)."""
    return int(getattr(settings, "KETACLINIC_LINK_HOURS", 72))


def link_reminders() -> int:
    """Reminders sent before a link expires (settings.KETACLINIC_LINK_REMINDERS, default 2)."""
    return int(getattr(settings, "KETACLINIC_LINK_REMINDERS", 2))


def base_url() -> str:
    """The address staff and patients reach the server at, for links in e-mails."""
    return links.base_url()
