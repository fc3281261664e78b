"""The FHIR R4 endpoints under /fhir/R4/: metadata, read, search, Bulk Data export.

Same credentials, roles, clinic isolation and audit as /api/v1/: a bearer token or
the browser session (api_auth.Allow), the action each resource type declares in
sources.TYPES, 404 for another clinic's resource, an audit event for every read. Every
answer is application/fhir+json; every error an OperationOutcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import ValidationError as NinjaValidationError

from ketaclinic.accounts.access import Actor
from ketaclinic.api_auth import Allow
from ketaclinic.audit.services import record
from ketaclinic.interop import bulk, groups, sources
from ketaclinic.interop.capability import capability_statement
from ketaclinic.interop.params import SearchError
from ketaclinic.patients import restricted

FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def outcome(status: int, code: str, message: str) -> HttpResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    response = fhir_response(body, status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="ketaclinic"'
    return response


def fhir_response(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        content_type=FHIR_JSON,
    )


def fhir_view(
    *methods: str,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Allowed methods, JSON only, and every failure as an OperationOutcome (never a 500 page)."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @csrf_exempt  # a session caller's CSRF token is checked by Allow, like /api/v1/
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                return outcome(405, "not-supported", f"{request.method} is not supported here.")
            accept = request.headers.get("Accept", "")
            if accept and "json" not in accept and "*/*" not in accept and "ndjson" not in accept:
                return outcome(406, "not-supported", "This server answers in JSON only.")
            try:
                return view(request, *args, **kwargs)
            except FhirError as exc:
                return outcome(exc.status, exc.code, exc.message)
            except SearchError as exc:
                return outcome(400, "invalid", str(exc))
            except PermissionDenied as exc:
                return outcome(403, "forbidden", str(exc) or "You may not do this.")
            except Http404:  # an id no column can hold (api_safety)
                return outcome(404, "not-found", "No such resource.")
            except NinjaValidationError as exc:  # values no column can hold (api_safety)
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                    for e in exc.errors
                )
                return outcome(400, "invalid", problems or "Invalid input.")

        wrapped.fhir = True  # type: ignore[attr-defined]
        return wrapped

    return decorator


def authenticate(request: HttpRequest, action: str) -> Actor:
    """The caller as an Actor allowed to `action`; 401 without credentials, 403 by role."""
    actor = Allow(action)(request)
    if actor is None:
        raise FhirError(401, "login", "Send a bearer token (Authorization: Bearer ...).")
    return actor


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/R4/")


def _query(request: HttpRequest) -> dict[str, list[str]]:
    return {key: request.GET.getlist(key) for key in request.GET}


def _kind(resource_type: str) -> sources.ResourceType:
    kind = sources.TYPES.get(resource_type)
    if kind is None:
        raise FhirError(
            404, "not-supported", f"Resource type {resource_type!r} is not served here."
        )
    return kind


def _audit_read(actor: Actor, resource: dict[str, Any]) -> None:
    record(
        actor,
        "fhir_read",
        patient_id=sources.patient_of(resource),
        object_type=f"fhir.{resource['resourceType']}",
        object_id=resource["id"],
        detail={"fhir_action": "R"},
    )


# --- Endpoints -----------------------------------------------------------------------------


@fhir_view("GET")
def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_response(capability_statement(base_url(request)))


@fhir_view("GET")
def read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    if resource_type == "Questionnaire":
        authenticate(request, sources.QUESTIONNAIRE_ACTION)
        found = sources.questionnaire(resource_id)
        if found is None:
            raise FhirError(404, "not-found", f"Questionnaire/{resource_id} does not exist.")
        return fhir_response(found)
    if resource_type == "Group":
        actor = authenticate(request, bulk.EXPORT_ACTION)
        if resource_id not in groups.GROUPS:
            raise FhirError(404, "not-found", f"Group/{resource_id} does not exist.")
        return fhir_response(groups.group(actor.clinic, resource_id))
    kind = _kind(resource_type)
    actor = authenticate(request, kind.action)
    hidden = restricted.hidden_patient_ids(actor)
    resource = sources.read(kind, actor.clinic, resource_id, hidden)
    if resource is None and hidden and sources.read(kind, actor.clinic, resource_id):
        raise FhirError(403, "forbidden", "This belongs to a restricted chart (break-glass).")
    if resource is None:
        raise FhirError(404, "not-found", f"{resource_type}/{resource_id} does not exist here.")
    with transaction.atomic():
        _audit_read(actor, resource)
    return fhir_response(resource)


@fhir_view("GET")
def search(request: HttpRequest, resource_type: str) -> HttpResponse:
    if resource_type == "Questionnaire":
        authenticate(request, sources.QUESTIONNAIRE_ACTION)
        found = sources.questionnaires()
        return fhir_response(_bundle(request, found, [], next_offset=None))
    if resource_type == "Group":
        actor = authenticate(request, bulk.EXPORT_ACTION)
        found = [groups.group(actor.clinic, gid) for gid in groups.GROUPS]
        return fhir_response(_bundle(request, found, [], next_offset=None))
    kind = _kind(resource_type)
    actor = authenticate(request, kind.action)
    wanted = sources.parse_search(kind, actor.clinic, _query(request))
    wanted.hidden = restricted.hidden_patient_ids(actor)
    found, more = sources.page(wanted)
    included = _includes(wanted, found, actor)
    with transaction.atomic():
        patients: list[int | None] = list(sources.patient_ids_of(found + included))
        if wanted.patient_id is not None and wanted.patient_id not in patients and not found:
            patients = []  # a search of another clinic's patient finds nothing, and says so
        for patient_id in patients or [None]:
            record(
                actor,
                "fhir_search",
                patient_id=patient_id,
                object_type=f"fhir.{kind.name}",
                detail={"fhir_action": "E", "matches": len(found)},
            )
    next_offset = wanted.offset + len(found) if more else None
    return fhir_response(_bundle(request, found, included, next_offset=next_offset))


def _includes(
    wanted: sources.Search, found: list[dict[str, Any]], actor: Actor
) -> list[dict[str, Any]]:
    included: list[dict[str, Any]] = []
    for include in wanted.includes:
        target = include.split(":", 1)[1]
        if target in ("patient", "subject"):
            ids = [str(pk) for pk in sources.patient_ids_of(found)]
            if ids:
                search = sources.Search(
                    sources.TYPES["Patient"], actor.clinic, ids=ids, count=len(ids)
                )
                search.hidden = wanted.hidden
                included += sources.page(search)[0]
        elif target == "questionnaire":
            urls = {r.get("questionnaire", "").split("|")[0] for r in found}
            included += [q for q in sources.questionnaires() if q["url"] in urls]
    return included


def _bundle(
    request: HttpRequest,
    found: list[dict[str, Any]],
    included: list[dict[str, Any]],
    *,
    next_offset: int | None,
) -> dict[str, Any]:
    base = base_url(request)
    self_url = request.build_absolute_uri()
    links = [{"relation": "self", "url": self_url}]
    if next_offset is not None:
        query = request.GET.copy()
        query["_offset"] = str(next_offset)
        links.append(
            {
                "relation": "next",
                "url": f"{base}{request.path.split('/fhir/R4/', 1)[1]}?{query.urlencode()}",
            }
        )
    entries = [
        {
            "fullUrl": f"{base}{res['resourceType']}/{res['id']}",
            "resource": res,
            "search": {"mode": mode},
        }
        for res, mode in [(r, "match") for r in found] + [(r, "include") for r in included]
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if entries:
        bundle["entry"] = entries
    return bundle


# --- Bulk Data export -----------------------------------------------------------------------


@fhir_view("GET", "POST")
def export_system(request: HttpRequest) -> HttpResponse:
    return _kick_off(request, level="system")


@fhir_view("GET", "POST")
def export_patients(request: HttpRequest) -> HttpResponse:
    return _kick_off(request, level="patient")


@fhir_view("GET", "POST")
def export_group(request: HttpRequest, group_id: str) -> HttpResponse:
    return _kick_off(request, level="group", group_id=group_id)


def _kick_off(request: HttpRequest, *, level: str, group_id: str = "") -> HttpResponse:
    actor = authenticate(request, bulk.EXPORT_ACTION)
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise FhirError(400, "invalid", "Bulk export needs the header Prefer: respond-async.")
    if level == "group" and group_id not in groups.GROUPS:
        raise FhirError(404, "not-found", f"Group/{group_id} does not exist.")
    try:
        job = bulk.start_export(
            actor=actor,
            level=level,
            group_id=group_id,
            query=_query(request),
            request_url=request.build_absolute_uri(),
        )
    except bulk.ExportRequestError as exc:
        raise FhirError(400, "invalid", str(exc)) from None
    response = HttpResponse(status=202)
    response["Content-Location"] = f"{base_url(request)}$export-status/{job.pk}"
    return response


def _job_for(request: HttpRequest, job_id: str) -> tuple[Actor, bulk.ExportJob]:
    actor = authenticate(request, bulk.EXPORT_ACTION)
    job = bulk.job_for(actor, job_id)
    if job is None:
        raise FhirError(404, "not-found", "No such export (or it has expired).")
    return actor, job


@fhir_view("GET", "DELETE")
def export_status(request: HttpRequest, job_id: str) -> HttpResponse:
    actor, job = _job_for(request, job_id)
    if request.method == "DELETE":
        bulk.cancel_export(actor=actor, job=job)
        return outcome_info(202, "The export was cancelled; its files are deleted.")
    if job.status in (bulk.Status.QUEUED, bulk.Status.RUNNING):
        response = HttpResponse(status=202)
        response["X-Progress"] = job.progress_text()
        response["Retry-After"] = "5"
        return response
    if job.status == bulk.Status.FAILED:
        raise FhirError(500, "exception", f"The export failed: {job.error}")
    return HttpResponse(
        json.dumps(bulk.manifest(job, base_url(request))), content_type="application/json"
    )


def outcome_info(status: int, message: str) -> HttpResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": message}],
    }
    return fhir_response(body, status)


@fhir_view("GET")
def export_file(request: HttpRequest, job_id: str, name: str) -> FileResponse:
    actor, job = _job_for(request, job_id)
    path = bulk.file_path(job, name)
    if path is None:
        raise FhirError(404, "not-found", f"The export has no file {name!r}.")
    with transaction.atomic():
        record(actor, "fhir_export_download", obj=job, detail={"fhir_action": "R", "file": name})
    return FileResponse(path.open("rb"), content_type="application/fhir+ndjson")
