"""The JSON API under /api/v1/: one NinjaAPI that mounts each app's router."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

from ketaclinic.api_auth import Allow
from ketaclinic.api_safety import document_errors
from ketaclinic.patients.services import StaleVersion


class _API(NinjaAPI):
    """Builds its OpenAPI document once: building it costs over half a second of CPU, and
    /api/v1/openapi.json answers anyone, so no request may rebuild it."""

    _documents: dict[str, OpenAPISchema]

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        documents = self.__dict__.setdefault("_documents", {})
        if path_prefix not in documents:
            documents[path_prefix] = super().get_openapi_schema(path_prefix=path_prefix)
        return documents[path_prefix]


api = _API(
    title="ketaclinic API",
    version="1",
    urls_namespace="api",
    # A route that forgets to declare its action is refused to everyone (fail closed);
    # tests/test_role_walk.py names any such route.
    auth=Allow("undeclared"),
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
    # A service may name the conflict (which record, which versions); else the general words.
    detail = str(exc) or "Someone else saved this record since you loaded it. Reload and try again."
    return _error(request, detail, 409)


@api.exception_handler(RequestDataTooBig)
def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _error(request, f"The request body is larger than the {limit}-byte limit.", 413)


def mount_routers() -> None:
    from ketaclinic.accounts.api import router as accounts_router
    from ketaclinic.accounts.clinic_api import router as clinic_security_router
    from ketaclinic.audit.api import router as audit_router
    from ketaclinic.billing.api import router as billing_router
    from ketaclinic.integration.api import router as integration_router
    from ketaclinic.inventory.api import router as inventory_router
    from ketaclinic.measures.api import router as measures_router
    from ketaclinic.measures.links_api import router as measure_links_router
    from ketaclinic.outcomes.api import router as outcomes_router
    from ketaclinic.patients.api import router as patients_router
    from ketaclinic.portal.api import router as portal_router
    from ketaclinic.portal.api import staff_router as portal_staff_router
    from ketaclinic.scheduling.api import router as scheduling_router
    from ketaclinic.scheduling.review_api import router as review_router
    from ketaclinic.screening.api import router as screening_router
    from ketaclinic.setup.api import router as setup_router
    from ketaclinic.treatment.ae_api import router as ae_router
    from ketaclinic.treatment.api import router as treatment_router
    from ketaclinic.treatment.followup_api import router as followup_router
    from ketaclinic.website.api import router as website_router

    api.add_router("/patients", patients_router)
    api.add_router("/audit", audit_router)
    api.add_router("/tokens", accounts_router)
    # Each capability's router mounts at the API root and names its own paths
    # (e.g. /patients/{id}/measures, /alerts, /screenings/{id}/decision).
    api.add_router("", measures_router)
    api.add_router("", screening_router)
    api.add_router("", scheduling_router)
    api.add_router("", review_router)
    api.add_router("", inventory_router)
    api.add_router("", treatment_router)
    api.add_router("", setup_router)
    api.add_router("", outcomes_router)
    api.add_router("", followup_router)
    api.add_router("", integration_router)
    api.add_router("", ae_router)
    api.add_router("/portal", portal_router)
    api.add_router("", portal_staff_router)
    api.add_router("", measure_links_router)
    api.add_router("", clinic_security_router)
    api.add_router("", billing_router)
    api.add_router("", website_router)


mount_routers()
document_errors(api)
