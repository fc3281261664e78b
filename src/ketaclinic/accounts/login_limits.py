"""Log-in limits per address and per account, shared by every process (ketaclinic.limits).

django-axes locks one account from one address after a few failures. That leaves two
attacks open: one address trying a common password on many accounts (password
spraying), and many addresses guessing one account's password. Failures are counted
per address and per account; over either limit, the authentication backend below
refuses before any password is checked, so even the right password does not get in
until the window passes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from ketaclinic import limits
from ketaclinic.accounts.access import client_ip


def _keys(request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    keys = [
        (f"login:account:{username.strip().lower()[:150]}", settings.LOGIN_FAILURES_PER_ACCOUNT)
    ]
    address = client_ip(request) if request is not None else None
    if address:
        keys.append((f"login:address:{address}", settings.LOGIN_FAILURES_PER_ADDRESS))
    return keys


def record_failure(request: HttpRequest | None, username: str) -> None:
    for key, _ in _keys(request, username):
        limits.hit(key, settings.LOGIN_WINDOW_SECONDS)


def over_limit(request: HttpRequest | None, username: str) -> bool:
    return any(
        limits.count(key, settings.LOGIN_WINDOW_SECONDS) >= limit
        for key, limit in _keys(request, username)
    )


class LoginLimitBackend:
    """Refuses (PermissionDenied stops the other backends) while a log-in limit is reached.

    Deliberately no `get_user`: it never logs anyone in, so sessions never name it.
    """

    def authenticate(self, request: Any, username: str | None = None, **kwargs: Any) -> None:
        if username is not None and over_limit(request, username):
            raise PermissionDenied("Too many failed log-ins; try again later.")
        return None
