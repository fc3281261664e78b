"""The end-of-induction review: a physician judges the benefit before any maintenance.

The label asks prescribers to evaluate the benefit at the end of induction (esketamine;
the MDSI indication after 4 weeks), and the other protocols carry the same review as
clinic policy (``end_of_induction_review`` in the protocol file). Until the review is
signed, booking refuses any session beyond the induction series (``review_conflict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.protocols import Protocol
from ketaclinic.measures import services as measures_services
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    CoursePhase,
    CourseStatus,
    InductionReview,
    ReviewDecision,
    TreatmentCourse,
)

__all__ = [
    "ReviewState",
    "maintenance_default",
    "record_review",
    "review_conflict",
    "review_state",
]

MAX_MAINTENANCE_SESSIONS = 52


@dataclass(frozen=True)
class ReviewState:
    """Whether the course needs its review, whether it is due now, and what was signed."""

    required: bool
    due: bool
    completed_sessions: int
    induction_sessions: int
    review: InductionReview | None


def _protocol(course: TreatmentCourse) -> Protocol:
    from ketaclinic.scheduling.services import course_protocol

    return course_protocol(course)


def _completed(course: TreatmentCourse) -> int:
    return Appointment.objects.filter(
        course=course, kind=AppointmentKind.TREATMENT, status=AppointmentStatus.COMPLETED
    ).count()


def review_state(course: TreatmentCourse) -> ReviewState:
    """The course's end-of-induction review state (due once every induction session is done)."""
    required = _protocol(course).end_of_induction_review is not None
    review = InductionReview.objects.filter(course=course).first()
    completed = _completed(course) if required and review is None else 0
    return ReviewState(
        required=required,
        due=required
        and review is None
        and course.phase == CoursePhase.INDUCTION
        and course.status == CourseStatus.ACTIVE
        and completed >= course.planned_sessions,
        completed_sessions=completed,
        induction_sessions=course.planned_sessions,
        review=review,
    )


def review_conflict(course: TreatmentCourse, *, held: int, adding: int) -> str | None:
    """Why booking ``adding`` more sessions must wait for the review, or None.

    Beyond the induction series nothing is booked until a physician has signed the
    review; a maintenance course always has one (recording it moves the course there).
    """
    if _protocol(course).end_of_induction_review is None:
        return None
    if course.phase == CoursePhase.INDUCTION and held + adding > course.planned_sessions:
        return (
            f"The induction series has {course.planned_sessions} sessions. A physician records "
            "the end-of-induction review (benefit, and continue, change or stop) before any "
            "maintenance session can be booked."
        )
    return None


def maintenance_default(protocol: Protocol) -> int | None:
    """The number of sessions of the protocol's first maintenance phase, if it fixes one."""
    for phase in protocol.phases:
        if phase.kind == "maintenance":
            if phase.sessions is not None and phase.sessions.max is not None:
                return int(phase.sessions.max)
            return None
    return None


def record_review(
    *,
    actor: Actor,
    course: TreatmentCourse,
    decision: str,
    reason: str = "",
    maintenance_sessions: int | None = None,
) -> InductionReview:
    """Sign the end-of-induction review; continue/change opens maintenance, stop ends the course.

    Raises ValidationError naming the field: an unknown decision, a change or stop without
    a reason, continuing a protocol without a maintenance phase, a maintenance count
    outside 1-52, or a review that is not due (already signed, or induction not complete).
    """
    actor.check("medical.sign")
    if decision not in ReviewDecision.values:
        raise ValidationError({"decision": "Choose continue, change or stop."})
    reason = (reason or "").replace("\x00", "").strip()
    if len(reason) > 2000:
        raise ValidationError({"reason": "Keep the reason under 2000 characters."})
    if decision != ReviewDecision.CONTINUE and not reason:
        raise ValidationError({"reason": "Say what changes, or why treatment stops."})
    protocol = _protocol(course)
    if decision != ReviewDecision.STOP:
        if not any(phase.kind == "maintenance" for phase in protocol.phases):
            raise ValidationError(
                {
                    "decision": f"{protocol.title} has no maintenance phase: stop, or prescribe "
                    "a new course."
                }
            )
        if maintenance_sessions is None:
            maintenance_sessions = maintenance_default(protocol)
        if (
            maintenance_sessions is None
            or not 1 <= maintenance_sessions <= MAX_MAINTENANCE_SESSIONS
        ):
            raise ValidationError(
                {"maintenance_sessions": f"Enter 1 to {MAX_MAINTENANCE_SESSIONS} sessions."}
            )
    else:
        maintenance_sessions = None
    with transaction.atomic():
        locked = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
        state = review_state(locked)
        if state.review is not None:
            raise ValidationError({"decision": "The review of this course is already signed."})
        if not state.due:
            raise ValidationError(
                {
                    "decision": f"The review is due when the induction is complete "
                    f"({state.completed_sessions} of {state.induction_sessions} sessions done)."
                }
            )
        outcomes = measures_services.outcomes_for(actor=actor, patient=locked.patient)
        review = InductionReview.objects.create(
            clinic=locked.clinic,
            course=locked,
            patient=locked.patient,
            decision=decision,
            reason=reason,
            maintenance_sessions=maintenance_sessions,
            outcomes=outcomes,
            signed_by=actor.user,
            signed_name=actor.user.get_full_name() or actor.user.get_username(),
            signed_at=timezone.now(),
        )
        if decision == ReviewDecision.STOP:
            from ketaclinic.scheduling.services import end_course

            end_course(actor=actor, course=locked, status=CourseStatus.STOPPED, reason=reason)
        else:
            assert maintenance_sessions is not None
            locked.phase = CoursePhase.MAINTENANCE
            locked.planned_sessions = locked.planned_sessions + maintenance_sessions
            locked.save(update_fields=["phase", "planned_sessions"])
        record(
            actor,
            "sign",
            patient_id=locked.patient_id,
            obj=review,
            detail={
                "course": locked.pk,
                "decision": decision,
                "maintenance_sessions": maintenance_sessions,
            },
        )
    return review


def outcome_rows(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored outcome numbers with labels for a page."""
    return [
        {
            **row,
            "label": row["instrument"].replace("_", "-").upper(),
        }
        for row in outcomes
    ]
