"""Absolute addresses for links that leave the server (e-mails, calendar feeds), and link e-mails.

Links are built from the KETACLINIC_BASE_URL setting, never from the request's Host
header: a forged Host would otherwise put an attacker's address into a patient's
e-mail. Production refuses to start without the setting (checks.py); a laptop in
debug mode falls back to the local server.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

LOCAL_BASE_URL = "http://127.0.0.1:8000"


def base_url() -> str:
    """The address staff and patients reach the server at, without a trailing slash."""
    return str(getattr(settings, "KETACLINIC_BASE_URL", "") or LOCAL_BASE_URL).rstrip("/")


def absolute_url(path: str) -> str:
    """`path` (from reverse()) as a full address on this server."""
    return base_url() + path


def mail_form_link(
    *, to: str, clinic_name: str, what: str, url: str, expires_at: datetime, tz: tzinfo
) -> None:
    """E-mail a patient a single-use link to a form, once the surrounding transaction commits.

    The text names the clinic and a plain description of the form ("a history form",
    "a form to read and sign") and nothing clinical: an e-mail can be read by others.
    """
    local = timezone.localtime(expires_at, tz)
    lines = [
        "Hello,",
        "",
        f"{clinic_name} asks you to fill in {what} before your visit.",
        "",
        f"Open this link (it works once, until {local:%d %b %Y %H:%M} {local.tzname()}):",
        url,
        "",
        "If you did not expect this e-mail, you can ignore it, or call the clinic.",
        f"— {clinic_name}",
    ]
    transaction.on_commit(
        lambda: send_mail(
            subject=f"A form from {clinic_name}",
            message="\n".join(lines),
            from_email=None,
            recipient_list=[to],
        )
    )
