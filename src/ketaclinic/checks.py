"""Start-up checks for production mode."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

CONSOLE_MAIL = "django.core.mail.backends.console.EmailBackend"
NO_MAIL = "django.core.mail.backends.dummy.EmailBackend"


def unsafe_secret_reason(secret: str) -> str | None:
    """Why a secret key is unsafe for production, or None when it is fine."""
    if secret == settings.DEV_SECRET_KEY or secret.startswith("django-insecure"):
        return "KETACLINIC_SECRET_KEY is not set (the development key is in use)."
    if len(secret) < 40 or len(set(secret)) < 10:
        return "KETACLINIC_SECRET_KEY is too short or too simple (40+ varied characters)."
    return None


@register("security", deploy=True)
def check_secret_key(app_configs, **kwargs):
    reason = None if settings.DEBUG else unsafe_secret_reason(settings.SECRET_KEY)
    return [Error(reason, id="ketaclinic.E001")] if reason else []


def unsafe_email_reason() -> str | None:
    """Why the e-mail setting is unsafe for production, or None."""
    if settings.EMAIL_BACKEND == CONSOLE_MAIL:
        return (
            "KETACLINIC_EMAIL_URL=console: writes whole e-mails, patient names included, to "
            "the application log; use smtp://… (or none: to send nothing)."
        )
    return None


def unsafe_base_url_reason() -> str | None:
    """Why KETACLINIC_BASE_URL is unusable for links in e-mails, or None."""
    url = settings.KETACLINIC_BASE_URL
    if not url:
        return (
            "KETACLINIC_BASE_URL is not set: links e-mailed to patients (forms, questionnaires) "
            "need the address they reach this server at, e.g. https://clinic.example.org."
        )
    if not url.startswith(("https://", "http://")):
        return f"KETACLINIC_BASE_URL must start with https:// (or http:// on a closed network); it is {url!r}."
    return None


@register("security", deploy=True)
def check_base_url(app_configs, **kwargs):
    reason = None if settings.DEBUG else unsafe_base_url_reason()
    return [Error(reason, id="ketaclinic.E003")] if reason else []


def refuse_unsafe_production() -> None:
    """Raise ImproperlyConfigured in production mode with an unsafe secret, e-mail log or no base URL."""
    if settings.DEBUG:
        return
    reason = (
        unsafe_secret_reason(settings.SECRET_KEY)
        or unsafe_email_reason()
        or unsafe_base_url_reason()
    )
    if reason:
        raise ImproperlyConfigured(f"Refusing to start in production mode: {reason}")


@register("security", deploy=True)
def check_email(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    if reason := unsafe_email_reason():
        return [Error(reason, id="ketaclinic.E002")]
    if settings.EMAIL_BACKEND == NO_MAIL:
        return [
            Warning(
                "No e-mail is configured (KETACLINIC_EMAIL_URL): suicidality alerts, "
                "questionnaire links and reminders are not e-mailed.",
                id="ketaclinic.W001",
            )
        ]
    return []


@register("security", deploy=True)
def check_audit_trail(app_configs, **kwargs):
    """Sealing late or an anchor kept only on this machine (audit.services.health_warnings)."""
    from django.db import DatabaseError

    from ketaclinic.audit.services import health_warnings

    try:
        warnings = health_warnings()
    except DatabaseError:  # not migrated yet: `migrate` comes first
        return []
    return [Warning(text, id="ketaclinic.W002") for text in warnings]
