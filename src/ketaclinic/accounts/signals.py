"""Log-ins, log-outs, failed log-ins and lockouts go to the audit log."""

from __future__ import annotations

import time
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from ketaclinic.accounts.access import client_ip
from ketaclinic.accounts.middleware import ACTIVE_AT


def _ip(request: Any) -> str | None:
    return client_ip(request) if request is not None else None


@receiver(user_logged_in)
def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from ketaclinic.audit.services import record_system

    record_system("login", user=user, ip=_ip(request))
    if request is not None and hasattr(request, "session"):
        # The log-in saves the session: the idle timeout's minute starts now.
        request.session[ACTIVE_AT] = int(time.time())


@receiver(user_logged_out)
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from ketaclinic.audit.services import record_system

    if user is not None:
        record_system("logout", user=user, ip=_ip(request))


@receiver(user_login_failed)
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    from ketaclinic.accounts import login_limits
    from ketaclinic.audit.services import record_system

    # As typed, cut to the longest a username can be (any login form, Wagtail's included, may
    # pass kilobytes here; the audit and lockout columns hold 150).
    username = str(credentials.get("username", ""))[:150]
    login_limits.record_failure(request, username)
    record_system("login_failed", username=username, ip=_ip(request))


@receiver(user_locked_out)
def on_locked_out(sender: Any, request: Any, username: str | None = None, **kwargs: Any) -> None:
    from ketaclinic.audit.services import record_system

    record_system("lockout", username=username or "", ip=kwargs.get("ip_address") or _ip(request))


def axes_username(request: Any, credentials: dict[str, Any] | None) -> str:
    """The username django-axes records (AXES_USERNAME_CALLABLE): as typed, cut to 150 like
    ours, because a login form that does not check its length (Wagtail's) may pass kilobytes."""
    if credentials and credentials.get("username"):
        return str(credentials["username"])[:150]
    return str(request.POST.get("username", "") if request is not None else "")[:150]
