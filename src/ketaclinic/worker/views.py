"""Health endpoints for load balancers and orchestrators: no log-in, no patient data."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from ketaclinic.audit.services import last_beat


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers (restart it when this fails)."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and a worker finished a pass recently (send traffic)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
        beat = last_beat("worker")
        late = timedelta(seconds=settings.WORKER_STALE_SECONDS)
        if beat is None:
            checks["worker"] = "no worker has run yet"
        elif timezone.now() - beat > late:
            checks["worker"] = f"last pass {int((timezone.now() - beat).total_seconds())} s ago"
        else:
            checks["worker"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"unavailable ({type(exc).__name__})"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )
