"""Outcomes API: the clinic's summary and safety figures, publishing, and the public snapshot."""

from __future__ import annotations

import json
from typing import Any

import pydantic
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import ErrorOut, InvalidOut
from ketaclinic.api_schemas import StrictIn
from ketaclinic.outcomes import publication, services

router = Router(tags=["outcomes"])


class PublicAccess:
    """No credentials: only the published, de-identified snapshots answer to it."""

    action = "public"

    def __call__(self, request: HttpRequest) -> bool:
        return True


class SummaryQuery(Schema):
    instrument: str = "phq9"
    group_by: str = "protocol"
    date_from: str | None = Field(None, alias="from")
    date_to: str | None = Field(None, alias="to")


class GroupOut(Schema):
    key: str
    label: str
    patients: int
    with_baseline: int
    with_followup: int
    responders: int
    response_rate: float | None
    response_ci: list[float] | None
    remitters: int
    remission_rate: float | None
    remission_ci: list[float] | None
    median_change: float | None
    median_days_to_response: float | None
    dropouts: int


class SummaryOut(Schema):
    instrument: str
    groups: list[GroupOut]


class RangeQuery(Schema):
    date_from: str | None = Field(None, alias="from")
    date_to: str | None = Field(None, alias="to")


class PublicationIn(StrictIn):
    date_from: str | None = Field(None, alias="from")
    date_to: str | None = Field(None, alias="to")
    tables: list[str] | None = None


class PublicationOut(Schema):
    id: int
    published_at: str
    snapshot: dict[str, Any]


@router.get("/outcomes/summary", response=SummaryOut, auth=allow("outcomes.view"))
def outcome_summary(request: ClinicRequest, query: Query[SummaryQuery]) -> dict[str, Any]:
    filters = services.parse_filters(
        instrument=query.instrument,
        group_by=query.group_by,
        date_from=query.date_from,
        date_to=query.date_to,
    )
    result = services.summary(request.auth.clinic, filters)
    return {"instrument": result["instrument"], "groups": result["groups"]}


@router.get("/outcomes/safety", response=dict[str, Any], auth=allow("outcomes.view"))
def outcome_safety(request: ClinicRequest, query: Query[RangeQuery]) -> dict[str, Any]:
    filters = services.parse_filters(date_from=query.date_from, date_to=query.date_to)
    return services.safety(request.auth.clinic, filters)


def _publication_body(request: HttpRequest) -> PublicationIn:
    """The optional JSON body: nothing at all (or {}) means the default snapshot."""
    raw = request.body.strip()
    data: Any = {}
    if request.content_type != "application/json":
        # No body, or an empty form (what many clients send for a bare POST).
        if raw and (request.POST or request.FILES):
            raise ValidationError({"body": "Send a JSON object (or nothing)."})
    elif raw:
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValidationError({"body": "The body is not valid JSON."}) from None
    if not isinstance(data, dict):
        raise ValidationError({"body": "Send a JSON object (or nothing)."})
    try:
        return PublicationIn.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][-1]) if first["loc"] else "body"
        raise ValidationError({field: first["msg"]}) from None


@router.post(
    "/outcomes/publications",
    # The body is read by hand (it may be empty), so its refusals are declared here.
    response={201: PublicationOut, 413: ErrorOut, 422: InvalidOut},
    auth=allow("outcomes.publish"),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": PublicationIn.model_json_schema()}},
        }
    },
)
def create_publication(request: ClinicRequest) -> Status:
    """Publish a snapshot; an empty body publishes all time and every table."""
    payload = _publication_body(request)
    published = publication.publish(
        actor=request.auth,
        from_month=publication.parse_month(payload.date_from, "from"),
        to_month=publication.parse_month(payload.date_to, "to"),
        tables=payload.tables,
    )
    return Status(
        201,
        {
            "id": published.pk,
            "published_at": published.published_at.isoformat(),
            "snapshot": published.snapshot,
        },
    )


@router.get("/public/outcomes", response=dict[str, Any], auth=PublicAccess())
def public_outcomes(request: HttpRequest, clinic: str) -> dict[str, Any]:
    found = publication.latest_for(clinic)
    if found is None:
        raise Http404("This clinic has published no outcomes.")
    return publication.public_snapshot(found)
