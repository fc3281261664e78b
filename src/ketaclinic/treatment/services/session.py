"""Starting a session from its appointment and stopping one early."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import Appointment, CourseStatus
from ketaclinic.treatment import checklist as checks
from ketaclinic.treatment.followup import create_follow_up
from ketaclinic.treatment.models import FINAL_STATES, ChecklistResult, State, TreatmentSession
from ketaclinic.treatment.rems import ensure_form

from .checklist import refresh_checklist
from .dosing import _amounts, _record_amounts
from .state import (
    SessionConflict,
    _claim,
    _event,
    _require_state,
    _save,
    _transition,
    session_protocol,
)

# --- starting --------------------------------------------------------------------------


def _start_missing(appointment: Appointment) -> list[str]:
    missing = []
    if appointment.kind != "treatment":
        missing.append("The appointment is not a treatment appointment.")
    if appointment.status != "checked_in":
        missing.append(
            f"The patient is not checked in (the appointment is "
            f"{appointment.get_status_display().lower()})."
        )
    course = appointment.course
    if course is None:
        missing.append("The appointment belongs to no treatment course.")
    elif course.status != CourseStatus.ACTIVE:
        missing.append(
            f"The treatment course is {course.get_status_display().lower()}, not active."
        )
    elif scheduling.current_order(course) is None:
        missing.append("The course has no signed dose order.")
    if TreatmentSession.objects.filter(appointment_id=appointment.pk).exists():
        missing.append("A session has already been started for this appointment.")
    return missing


def start_session(
    *, actor: Actor, appointment: Appointment, pregnancy_possible: bool | None = None
) -> TreatmentSession:
    """Open the session of a checked-in treatment appointment (state pre-dose).

    Raises SessionConflict with `missing` when the appointment cannot start one.
    The protocol's checklist is frozen onto the session; the appointment moves to
    in progress in the same transaction.
    """
    actor.check("session.chart")
    if appointment.clinic_id != actor.clinic.pk:
        raise PermissionDenied
    with transaction.atomic():
        locked = (
            Appointment.objects.select_for_update(of=("self",))
            .select_related("course", "patient")
            .get(pk=appointment.pk)
        )
        missing = _start_missing(locked)
        if missing:
            raise SessionConflict("The session cannot start.", missing=missing)
        course = locked.course
        assert course is not None
        protocol = scheduling.course_protocol(course)
        now = timezone.now()
        patient = locked.patient
        previous = TreatmentSession.objects.filter(course=course, dose_started_at__isnull=False)
        session = TreatmentSession.objects.create(
            clinic=actor.clinic,
            patient=patient,
            appointment=locked,
            course=course,
            room_id=locked.room_id,
            protocol_code=protocol.code,
            protocol_version=protocol.version,
            drug=protocol.drug,
            route=protocol.route,
            started_at=now,
            started_by=actor.user,
            pregnancy_possible=(
                checks.pregnancy_possible_default(
                    patient, timezone.localdate(now, timezone=actor.clinic.tz)
                )
                if pregnancy_possible is None
                else pregnancy_possible
            ),
            first_session=not previous.exists(),
        )
        from ketaclinic.treatment import longterm

        longterm.freeze_observation(session, protocol)
        items = checks.items_for(session, protocol)
        ChecklistResult.objects.bulk_create(
            ChecklistResult(
                session=session,
                position=i,
                item_id=item.id,
                label=item.label,
                hard_stop=item.hard_stop,
                automatic=item.id in checks.AUTOMATIC_ITEMS,
                # The nurse reviews the list; show what it holds (classes only).
                finding=(
                    checks.medication_hint(patient)
                    if item.id == "medication_changes_reviewed"
                    else ""
                ),
            )
            for i, item in enumerate(items)
        )
        _event(actor, session, "transition", "Session started", at=now, to_state=State.PRE_DOSE)
        record(
            actor,
            "start",
            patient_id=patient.pk,
            obj=session,
            detail={"appointment": locked.pk, "protocol": protocol.code},
        )
        scheduling.update_appointment(actor=actor, appointment=locked, status="in_progress")
        refresh_checklist(session, protocol, now=now, actor=actor)
    return session


def _finish_appointment(actor: Actor, session: TreatmentSession) -> None:
    appointment = Appointment.objects.get(pk=session.appointment_id)
    if appointment.status == "in_progress":
        scheduling.update_appointment(actor=actor, appointment=appointment, status="completed")
    # Every session that gave a dose gets its follow-up call (issue 12).
    create_follow_up(session, session_protocol(session), at=timezone.now())


def stop_session(
    *,
    actor: Actor,
    session: TreatmentSession,
    reason: str,
    drawn: Any = None,
    given: Any = None,
    left_over: Any = None,
    waste_manner: str = "",
    expected_version: int | None,
) -> TreatmentSession:
    """Stop the session early (before or during treatment), with the reason.

    Stopped while dosing after the dose started (the infusion running, a device given),
    the dose ends now and what was drawn, given and left over is required and posted to
    the ledger, as at the end of dosing.
    """
    actor.check("session.chart")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the session is stopped."})
    protocol = session_protocol(session)
    now = timezone.now()
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, *[s for s in State.values if s not in FINAL_STATES], doing="stop")
        if session.state == State.DOSING and session.dose_started_at is not None:
            actor.check("dose.record")
            amounts = _amounts(drawn, given, left_over)
            _record_amounts(actor, session, protocol, amounts, waste_manner, now)
        session.stop_reason = reason[:500]
        _save(session, "stop_reason")
        _transition(actor, session, State.STOPPED, at=now, text=f"Stopped: {reason}")
        _finish_appointment(actor, session)
        if session.is_esketamine and session.dose_started_at is not None:
            ensure_form(session)
    return session
