"""Bearer tokens remembered for a few seconds per process (api_auth.py looks them up here)."""

from __future__ import annotations

import copy
import threading
import time
from datetime import datetime

from django.conf import settings

from ketaclinic.accounts.models import ApiToken

# digest -> (monotonic expiry, the token with its membership, user and clinic loaded).
_tokens: dict[str, tuple[float, ApiToken]] = {}
_tokens_lock = threading.Lock()


def find(digest: str) -> ApiToken | None:
    """The live token with this digest: from this process's memory for a few seconds.

    A device posting vitals every few seconds would otherwise look its token up (and its
    membership, user and clinic) on every request. A revoked token, or a deactivated
    member, may answer for at most API_TOKEN_CACHE_SECONDS more in another process (this
    process forgets at once: ApiToken.revoke and deactivate_staff call `forget`).
    """
    now = time.monotonic()
    cached = _tokens.get(digest)
    if cached is not None and cached[0] > now:
        return _copy(cached[1])
    found = (
        ApiToken.objects.select_related("membership__user", "membership__clinic")
        .filter(
            digest=digest,
            revoked_at__isnull=True,
            membership__is_active=True,
            membership__user__is_active=True,
        )
        .first()
    )
    seconds = settings.API_TOKEN_CACHE_SECONDS
    if found is not None and seconds > 0:
        with _tokens_lock:
            if len(_tokens) > 10_000:
                _tokens.clear()
            _tokens[digest] = (now + seconds, found)
        return _copy(found)
    return found


def _copy(token: ApiToken) -> ApiToken:
    """A request's own instances, so no request sees another's changes to them."""
    fresh = copy.copy(token)
    fresh.membership = copy.copy(token.membership)
    fresh.membership.user = copy.copy(token.membership.user)
    fresh.membership.clinic = copy.copy(token.membership.clinic)
    return fresh


def forget() -> None:
    """Drop this process's remembered tokens (after a revocation)."""
    with _tokens_lock:
        _tokens.clear()


def used(digest: str, at: datetime) -> None:
    """Remember that the token was just marked used (its row is written once a minute)."""
    with _tokens_lock:
        cached = _tokens.get(digest)
        if cached is not None:
            cached[1].last_used_at = at
