"""The end-of-induction review under /api/v1/courses/{id}/induction-review."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Router, Schema, Status

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.scheduling import reviews
from ketaclinic.scheduling.access import get_course_for

router = Router(tags=["scheduling"])


class InductionReviewIn(StrictIn):
    decision: Literal["continue", "change", "stop"]
    reason: str = Field("", max_length=2000)
    maintenance_sessions: int | None = Field(None, ge=1, le=reviews.MAX_MAINTENANCE_SESSIONS)


class InductionReviewOut(Schema):
    course: int
    required: bool
    due: bool
    completed_sessions: int
    induction_sessions: int
    decision: str | None
    reason: str | None
    maintenance_sessions: int | None
    outcomes: list[dict[str, Any]]
    signed_by: str | None
    signed_at: datetime | None


def _out(course: Any, state: reviews.ReviewState, outcomes: list[dict[str, Any]]) -> dict:
    review = state.review
    return {
        "course": course.pk,
        "required": state.required,
        "due": state.due,
        "completed_sessions": state.completed_sessions,
        "induction_sessions": state.induction_sessions,
        "decision": review.decision if review else None,
        "reason": review.reason if review else None,
        "maintenance_sessions": review.maintenance_sessions if review else None,
        "outcomes": review.outcomes if review else outcomes,
        "signed_by": review.signed_name if review else None,
        "signed_at": review.signed_at if review else None,
    }


@router.get(
    "/courses/{course_id}/induction-review",
    response=InductionReviewOut,
    auth=allow("clinical.view"),
)
def read_review(request: ClinicRequest, course_id: int) -> dict:
    from ketaclinic.measures import services as measures_services

    actor = request.auth
    course = get_course_for(
        actor, course_id, "clinical.view", read=True, read_detail={"what": "induction_review"}
    )
    state = reviews.review_state(course)
    outcomes = (
        [] if state.review else measures_services.outcomes_for(actor=actor, patient=course.patient)
    )
    return _out(course, state, outcomes)


@router.post(
    "/courses/{course_id}/induction-review",
    response={201: InductionReviewOut},
    auth=allow("medical.sign"),
)
def sign_review(request: ClinicRequest, course_id: int, payload: InductionReviewIn) -> Status:
    actor = request.auth
    course = get_course_for(actor, course_id, "medical.sign")
    reviews.record_review(
        actor=actor,
        course=course,
        decision=payload.decision,
        reason=payload.reason,
        maintenance_sessions=payload.maintenance_sessions,
    )
    course.refresh_from_db()
    return Status(201, _out(course, reviews.review_state(course), []))
