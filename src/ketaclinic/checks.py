"""Start-up checks for production mode."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


def unsafe_secret_reason(secret: str) -> str | None:
    """Why a secret key is unsafe for production, or None when it is fine."""
    if secret == settings.DEV_SECRET_KEY or secret.startswith("django-insecure"):
        return "KETACLINIC_SECRET_KEY is not set (the development key is in use)."
    if len(secret) < 40 or len(set(secret)) < 10:
        return "KETACLINIC_SECRET_KEY is too short or too simple (40+ varied characters)."
    return None


@register("security", deploy=True)
def check_secret_key(app_configs, **kwargs):  # type: ignore[no-untyped-def]
    reason = None if settings.DEBUG else unsafe_secret_reason(settings.SECRET_KEY)
    return [Error(reason, id="ketaclinic.E001")] if reason else []
