"""Long-term monitoring of repeated dosing, and the patient's own observation time.

- At session start the patient's history (their newest intake) may lengthen the
  minimum observation (``discharge.observation.longer_when``: moderate hepatic
  impairment with esketamine). The minutes are frozen onto the session with the reason,
  so an intake edited mid-session does not move the discharge time; every reader of the
  session's protocol (`session_protocol`) sees the longer minimum.
- Urinary symptoms are asked at every session once the induction is over, and liver
  tests are due at the protocol's interval (clinic policy): both as checklist items
  (neither stops the dose), both shown on the chart and the session page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.longterm import (
    LIVER_ITEM,
    LiverStatus,
    liver_status,
    long_term_items,
    longer_observation,
    with_observation_minutes,
)
from ketaclinic.clinical.protocols import ChecklistItem, Protocol
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import CoursePhase, TreatmentCourse
from ketaclinic.scheduling.services import course_protocol
from ketaclinic.treatment.models import LiverTest, TreatmentSession

__all__ = [
    "LIVER_ITEM",
    "CourseMonitoring",
    "after_induction",
    "apply_observation",
    "freeze_observation",
    "history_flags",
    "liver_finding",
    "monitoring_for_patient",
    "record_liver_test",
    "session_items",
]

MAX_NOTE = 500


def history_flags(patient: Patient) -> set[str]:
    """The history flags (docs/clinical-sources.md §2) of the patient's newest intake; empty when none asked."""
    from ketaclinic.screening.services import latest_intake

    intake = latest_intake(patient)
    if intake is None:
        return set()
    return {str(flag) for flag in intake.data.get("history") or []}


def freeze_observation(session: TreatmentSession, protocol: Protocol) -> None:
    """Set the session's longer minimum observation from the patient's history, if any."""
    longer = longer_observation(protocol, history_flags(session.patient))
    if longer is None:
        return
    label = longer.history.replace("_", " ")
    session.observation_minutes = longer.minutes
    session.observation_reason = (
        f"{label.capitalize()}: observe at least {longer.minutes} minutes "
        f"({longer.source}){'; ' + longer.note if longer.note else ''}"
    )[:300]
    TreatmentSession.objects.filter(pk=session.pk).update(
        observation_minutes=session.observation_minutes,
        observation_reason=session.observation_reason,
    )


def apply_observation(session: TreatmentSession, protocol: Protocol) -> Protocol:
    """The protocol as it applies to this session (its longer observation, if frozen)."""
    return with_observation_minutes(protocol, session.observation_minutes)


def after_induction(course: TreatmentCourse) -> bool:
    """True once the course has moved past its induction series (the review said continue)."""
    return course.phase != CoursePhase.INDUCTION


def session_items(session: TreatmentSession, protocol: Protocol) -> tuple[ChecklistItem, ...]:
    """The long-term monitoring items this session's checklist adds to the protocol's."""
    return long_term_items(protocol, after_induction=after_induction(session.course))


def _last_test_on(patient_id: int, clinic_id: int) -> date | None:
    return (
        LiverTest.objects.filter(clinic_id=clinic_id, patient_id=patient_id)
        .order_by("-taken_on", "-pk")
        .values_list("taken_on", flat=True)
        .first()
    )


def liver_finding(session: TreatmentSession, protocol: Protocol, today: date) -> tuple[bool, str]:
    """The automatic checklist finding for the liver-test item: (met, text)."""
    status = liver_status(
        protocol,
        last_test_on=_last_test_on(session.patient_id, session.clinic_id),
        course_start=session.course.start_date,
        today=today,
    )
    if status is None:
        return True, "The protocol sets no liver-test interval."
    if status.due:
        return False, status.text + " Order them; the physician reviews the result."
    return True, status.text


@dataclass(frozen=True)
class CourseMonitoring:
    """Long-term monitoring of one running course, for the chart and the session page."""

    course: TreatmentCourse
    liver: LiverStatus | None
    urinary_every_session: bool
    urinary_last: str | None

    @property
    def anything(self) -> bool:
        return self.liver is not None or self.urinary_every_session


def monitoring_for_patient(
    patient: Patient, *, today: date | None = None
) -> list[CourseMonitoring]:
    """Long-term monitoring of the patient's running courses (three queries).

    Per course: liver tests (due or next due) when its protocol sets an interval, and
    whether urinary symptoms are asked at every session now (after induction), with the
    last answer recorded on a session checklist.
    """
    from ketaclinic.treatment.models import ChecklistResult

    clinic_id = patient.clinic_id
    courses = list(
        TreatmentCourse.objects.filter(
            clinic_id=clinic_id, patient=patient, status__in=["active", "paused"]
        ).order_by("-start_date", "-pk")[:3]
    )
    if not courses:
        return []
    today = today or patient.clinic.today()
    last = _last_test_on(patient.pk, clinic_id)
    urinary = (
        ChecklistResult.objects.filter(
            session__clinic_id=clinic_id,
            session__patient=patient,
            item_id="urinary_symptoms_asked",
        )
        .exclude(status="pending")
        .select_related("session")
        .order_by("-session__started_at", "-pk")
        .first()
    )
    urinary_text = None
    if urinary is not None:
        when = timezone.localtime(urinary.session.started_at).strftime("%d %b %Y")
        answer = "none new" if urinary.status == "met" else "symptoms reported"
        urinary_text = f"{answer} ({when}){': ' + urinary.finding if urinary.finding else ''}"
    rows = []
    for course in courses:
        protocol = course_protocol(course)
        plan = protocol.long_term_monitoring
        urinary_plan = plan.urinary_symptoms_after_induction if plan else None
        rows.append(
            CourseMonitoring(
                course=course,
                liver=liver_status(
                    protocol, last_test_on=last, course_start=course.start_date, today=today
                ),
                urinary_every_session=bool(
                    urinary_plan and urinary_plan.required and after_induction(course)
                ),
                urinary_last=urinary_text,
            )
        )
    return [row for row in rows if row.anything]


def record_liver_test(
    *, actor: Actor, patient: Patient, taken_on: date | None, result: str, note: str = ""
) -> LiverTest:
    """Record liver tests the patient had (date and reading); 422 naming the field."""
    actor.check("clinical.edit")
    errors: dict[str, str] = {}
    today = actor.clinic.today()
    if taken_on is None:
        errors["taken_on"] = "Enter the date the blood was taken."
    elif taken_on > today:
        errors["taken_on"] = "This date is in the future."
    elif taken_on < patient.birth_date:
        errors["taken_on"] = "This date is before the patient was born."
    if result not in LiverTest.Result.values:
        errors["result"] = "Choose normal or abnormal."
    note = (note or "").replace("\x00", "").strip()
    if len(note) > MAX_NOTE:
        errors["note"] = f"Keep the note under {MAX_NOTE} characters."
    if result == LiverTest.Result.ABNORMAL and not note:
        errors["note"] = "Say what was abnormal (e.g. ALT 3 x upper limit)."
    if errors:
        raise ValidationError(errors)
    assert taken_on is not None  # refused above
    with transaction.atomic():
        test = LiverTest.objects.create(
            clinic=actor.clinic,
            patient=patient,
            taken_on=taken_on,
            result=result,
            note=note,
            recorded_by=actor.user,
            recorded_at=timezone.now(),
        )
        record(
            actor,
            "liver_test",
            patient_id=patient.pk,
            obj=test,
            detail={"result": result},
        )
    return test
