"""Outcomes API: the clinic's summary and safety figures, publishing, and the public snapshot."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema

from ketaclinic.api_auth import allow
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


class PublicationIn(Schema):
    date_from: str | None = Field(None, alias="from")
    date_to: str | None = Field(None, alias="to")
    tables: list[str] | None = None


class PublicationOut(Schema):
    id: int
    published_at: str
    snapshot: dict[str, Any]


@router.get("/outcomes/summary", response=SummaryOut, auth=allow("outcomes.view"))
def outcome_summary(request: HttpRequest, query: Query[SummaryQuery]) -> dict[str, Any]:
    filters = services.parse_filters(
        instrument=query.instrument,
        group_by=query.group_by,
        date_from=query.date_from,
        date_to=query.date_to,
    )
    result = services.summary(request.auth.clinic, filters)
    return {"instrument": result["instrument"], "groups": result["groups"]}


@router.get("/outcomes/safety", response=dict[str, Any], auth=allow("outcomes.view"))
def outcome_safety(request: HttpRequest, query: Query[RangeQuery]) -> dict[str, Any]:
    filters = services.parse_filters(date_from=query.date_from, date_to=query.date_to)
    return services.safety(request.auth.clinic, filters)


@router.post(
    "/outcomes/publications", response={201: PublicationOut}, auth=allow("outcomes.publish")
)
def create_publication(
    request: HttpRequest, payload: PublicationIn | None = None
) -> tuple[int, dict[str, Any]]:
    payload = payload or PublicationIn()
    published = publication.publish(
        actor=request.auth,
        from_month=publication.parse_month(payload.date_from, "from"),
        to_month=publication.parse_month(payload.date_to, "to"),
        tables=payload.tables,
    )
    return 201, {
        "id": published.pk,
        "published_at": published.published_at.isoformat(),
        "snapshot": published.snapshot,
    }


@router.get("/public/outcomes", response=dict[str, Any], auth=PublicAccess())
def public_outcomes(request: HttpRequest, clinic: str) -> dict[str, Any]:
    found = publication.latest_for(clinic)
    if found is None:
        raise Http404("This clinic has published no outcomes.")
    return publication.public_snapshot(found)
