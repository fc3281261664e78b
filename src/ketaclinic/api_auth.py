"""API authentication and the role check, before any handler or body parsing runs."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBearer
from ninja.utils import check_csrf

from ketaclinic import limits
from ketaclinic.accounts import token_cache
from ketaclinic.accounts.access import Actor, actor_for, require_api
from ketaclinic.accounts.models import ApiToken, hash_token
from ketaclinic.accounts.roles import permission
from ketaclinic.api_safety import refuse_unstorable
from ketaclinic.audit.services import record


def _token_membership(request: HttpRequest, raw: str) -> bool:
    """Authenticate a bearer token; records its use at most once a minute."""
    digest = hash_token(raw)
    found = token_cache.find(digest)
    if found is None:
        return False
    if limits.limited_after_hit(f"api:token:{found.pk}", settings.API_REQUESTS_PER_MINUTE, 60):
        raise HttpError(429, "Too many requests with this token: wait a minute and retry.")
    request.user = found.membership.user
    request._membership = found.membership  # type: ignore[attr-defined]
    request.api_token_id = found.pk  # type: ignore[attr-defined]
    # Each event also names the token, so once a minute is enough to trace its use
    # without doubling every request's writes.
    now = timezone.now()
    stale = now - timedelta(minutes=1)
    if found.last_used_at is not None and found.last_used_at >= stale:
        return True  # used within the minute, as this process remembers it
    fresh = ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=found.pk
    ).update(last_used_at=now)
    token_cache.used(digest, now)
    if fresh:
        actor = actor_for(request)
        assert actor is not None
        record(actor, "token_use", obj=found)
    return True


class Allow(HttpBearer):
    """Authenticate (bearer token, or the browser session with CSRF) and check the role table.

    Every route declares its action: `@router.get(..., auth=allow("patient.view"))`.
    The check runs before the body is parsed, so a role that may not act gets 403
    whatever it sends; then values no column can hold are refused (api_safety). The
    handler receives the Actor as `request.auth`.
    """

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action if action == "undeclared" else permission(action)

    def __call__(self, request: HttpRequest) -> Actor | None:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not _token_membership(request, raw.strip()):
                return None
        elif request.user.is_authenticated:
            if check_csrf(request) is not None:
                raise PermissionDenied("CSRF check failed: reload the page and try again.")
        else:
            return None
        actor = require_api(request, self.action)
        refuse_unstorable(request)
        return actor

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        raise NotImplementedError  # __call__ handles both credentials


def allow(action: str) -> Allow:
    """The auth for a route: who may call it comes from accounts/roles.py."""
    return Allow(action)
