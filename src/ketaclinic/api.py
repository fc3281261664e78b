"""The JSON API under /api/v1/: one NinjaAPI that mounts each app's router."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI
from ninja.security import APIKeyCookie, HttpBearer

from ketaclinic.accounts.access import actor_for, current_membership
from ketaclinic.accounts.models import ApiToken, hash_token
from ketaclinic.audit.services import record
from ketaclinic.patients.services import StaleVersion


class TokenAuth(HttpBearer):
    """`Authorization: Bearer kc_...`; only the token's SHA-256 is stored."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = (
            ApiToken.objects.select_related("membership__user", "membership__clinic")
            .filter(
                digest=hash_token(token),
                revoked_at__isnull=True,
                membership__is_active=True,
                membership__user__is_active=True,
            )
            .first()
        )
        if found is None:
            return None
        request.user = found.membership.user
        request._membership = found.membership  # type: ignore[attr-defined]
        request.api_token_id = found.pk  # type: ignore[attr-defined]
        # Record token use at most once a minute per token: enough to trace it,
        # without doubling every request's writes (each event also names the token).
        now = timezone.now()
        fresh = ApiToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1)),
            pk=found.pk,
        ).update(last_used_at=now)
        if fresh:
            actor = actor_for(request)
            assert actor is not None
            record(actor, "token_use", obj=found)
        return found


class SessionAuth(APIKeyCookie):
    """A logged-in browser session (CSRF-checked for writes), as the pages use."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> object | None:
        if request.user.is_authenticated and current_membership(request) is not None:
            return request.user
        return None


api = NinjaAPI(
    title="ketaclinic API",
    version="1",
    urls_namespace="api",
    auth=[TokenAuth(), SessionAuth()],
    docs_url="/docs",
)


def _error(request: HttpRequest, detail: object, status: int) -> HttpResponse:
    return api.create_response(request, {"detail": detail}, status=status)


@api.exception_handler(PermissionDenied)
def permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, str(exc) or "You may not do this.", 403)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        detail = [
            {"loc": ["body", field], "msg": " ".join(m for e in errors for m in e.messages)}
            for field, errors in exc.error_dict.items()
        ]
    else:
        detail = [{"loc": ["body"], "msg": " ".join(exc.messages)}]
    return _error(request, detail, 422)


@api.exception_handler(StaleVersion)
def stale_version(request: HttpRequest, exc: StaleVersion) -> HttpResponse:
    return _error(
        request, "Someone else saved this record since you loaded it. Reload and try again.", 409
    )


def mount_routers() -> None:
    from ketaclinic.accounts.api import router as accounts_router
    from ketaclinic.audit.api import router as audit_router
    from ketaclinic.measures.api import router as measures_router
    from ketaclinic.patients.api import router as patients_router
    from ketaclinic.scheduling.api import router as scheduling_router
    from ketaclinic.screening.api import router as screening_router

    api.add_router("/patients", patients_router)
    api.add_router("/audit", audit_router)
    api.add_router("/tokens", accounts_router)
    # Each capability's router mounts at the API root and names its own paths
    # (e.g. /patients/{id}/measures, /alerts, /screenings/{id}/decision).
    api.add_router("", measures_router)
    api.add_router("", screening_router)
    api.add_router("", scheduling_router)


mount_routers()
