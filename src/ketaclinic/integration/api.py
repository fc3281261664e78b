"""Integration support under /api/v1/ (the same services and checks as the pages).

A psychotherapy note is returned only to its author: it appears in the author's list
and nobody else's, and ``/psychotherapy-notes/{id}`` answers 404 to anyone else. The
request and response shapes are in ``schemas``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from ninja import Router, Status

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.audit.services import record
from ketaclinic.integration import circles, notes, planning, plans
from ketaclinic.integration.models import Homework, ProgressNote, PsychotherapyNote, TreatmentPlan
from ketaclinic.integration.schemas import (
    IntegrationAmendIn,
    IntegrationAttendanceIn,
    IntegrationCircleIn,
    IntegrationCircleOut,
    IntegrationFormatIn,
    IntegrationFormatOut,
    IntegrationHomeworkIn,
    IntegrationHomeworkOut,
    IntegrationNoteIn,
    IntegrationNoteOut,
    IntegrationPlanIn,
    IntegrationPlannedOut,
    IntegrationPlanOut,
    IntegrationPrivateEditIn,
    IntegrationReleaseIn,
    IntegrationReleaseOut,
    IntegrationWorklistOut,
)
from ketaclinic.integration.sessions import set_format
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.access import get_course_for
from ketaclinic.scheduling.models import Appointment, Room

router = Router(tags=["integration"])


def _name(user: Any) -> str:
    return user.get_full_name() or user.username


def _progress_out(note: ProgressNote) -> dict[str, Any]:
    return {
        "id": note.pk,
        "kind": "progress",
        "patient_id": note.patient_id,
        "appointment_id": note.appointment_id,
        "circle_id": note.circle_id,
        "template": note.template,
        "fields": note.fields,
        "risk": note.risk,
        "text": note.text,
        "author": _name(note.author),
        "created_at": note.created_at,
        "signed_at": note.signed_at,
        "alert_id": note.alert_id,
        "amendments": [
            {
                "id": a.pk,
                "author": _name(a.author),
                "reason": a.reason,
                "text": a.text,
                "created_at": a.created_at,
            }
            for a in note.amendments.all()
        ],
    }


def _private_out(note: PsychotherapyNote, author: Any) -> dict[str, Any]:
    return {
        "id": note.pk,
        "kind": "psychotherapy",
        "patient_id": note.patient_id,
        "appointment_id": note.appointment_id,
        "circle_id": note.circle_id,
        "template": None,
        "fields": {},
        "risk": None,
        "text": note.text,
        "author": _name(author),
        "created_at": note.created_at,
        "signed_at": None,
        "alert_id": None,
        "amendments": [],
    }


@router.get(
    "/patients/{patient_id}/notes",
    response=list[IntegrationNoteOut],
    auth=allow("integration.view"),
)
def list_notes(request: ClinicRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "integration.view")
    rows = [
        _progress_out(n)
        for n in notes.progress_notes(actor, patient).prefetch_related("amendments__author")[:100]
    ]
    if actor.may("psychotherapy.note"):
        own = list(notes.own_psychotherapy_notes(actor, patient)[:100])
        rows += [_private_out(n, actor.user) for n in own]
        for note in own:
            notes.audit_read(actor, note)
    record(actor, "view", patient_id=patient.pk, detail={"what": "integration_notes"})
    return sorted(rows, key=lambda r: r["created_at"], reverse=True)


@router.post(
    "/patients/{patient_id}/notes",
    response={201: IntegrationNoteOut},
    auth=allow("integration.note"),
)
def create_note(request: ClinicRequest, patient_id: int, payload: IntegrationNoteIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "integration.note")
    if payload.kind == "psychotherapy":
        note = notes.write_psychotherapy_note(
            actor=actor,
            patient=patient,
            text=payload.text,
            appointment=payload.appointment,
            circle=payload.circle,
        )
        return Status(201, _private_out(note, actor.user))
    from django.core.exceptions import ValidationError

    if payload.template is None:
        raise ValidationError({"template": "Choose dap or soap."})
    progress = notes.create_progress_note(
        actor=actor,
        patient=patient,
        template=payload.template,
        fields=payload.fields,
        text=payload.text,
        appointment=payload.appointment,
        circle=payload.circle,
        sign=payload.sign,
    )
    return Status(201, _progress_out(progress))


@router.get("/notes/{note_id}", response=IntegrationNoteOut, auth=allow("integration.view"))
def get_note(request: ClinicRequest, note_id: int) -> dict[str, Any]:
    actor = request.auth
    note = notes.get_progress_note(actor, note_id)
    record(actor, "view", patient_id=note.patient_id, obj=note)
    return _progress_out(note)


@router.post("/notes/{note_id}/sign", response=IntegrationNoteOut, auth=allow("integration.note"))
def sign_note(request: ClinicRequest, note_id: int) -> dict[str, Any]:
    actor = request.auth
    note = notes.sign_progress_note(actor=actor, note=notes.get_progress_note(actor, note_id))
    return _progress_out(notes.get_progress_note(actor, note.pk))


@router.post(
    "/notes/{note_id}/amendments",
    response={201: IntegrationNoteOut},
    auth=allow("integration.note"),
)
def amend_note(request: ClinicRequest, note_id: int, payload: IntegrationAmendIn) -> Status:
    actor = request.auth
    note = notes.get_progress_note(actor, note_id)
    notes.amend_progress_note(actor=actor, note=note, reason=payload.reason, text=payload.text)
    return Status(201, _progress_out(notes.get_progress_note(actor, note.pk)))


@router.get(
    "/psychotherapy-notes/{note_id}", response=IntegrationNoteOut, auth=allow("psychotherapy.note")
)
def get_private_note(request: ClinicRequest, note_id: int) -> dict[str, Any]:
    actor = request.auth
    note = notes.get_own_psychotherapy_note(actor, note_id)
    notes.audit_read(actor, note)
    return _private_out(note, actor.user)


@router.put(
    "/psychotherapy-notes/{note_id}", response=IntegrationNoteOut, auth=allow("psychotherapy.note")
)
def edit_private_note(
    request: ClinicRequest, note_id: int, payload: IntegrationPrivateEditIn
) -> dict[str, Any]:
    actor = request.auth
    note = notes.get_own_psychotherapy_note(actor, note_id)
    note = notes.edit_psychotherapy_note(actor=actor, note=note, text=payload.text)
    return _private_out(note, actor.user)


@router.post(
    "/psychotherapy-notes/{note_id}/releases",
    response={201: IntegrationReleaseOut},
    auth=allow("psychotherapy.note"),
)
def release_private_note(
    request: ClinicRequest, note_id: int, payload: IntegrationReleaseIn
) -> Status:
    actor = request.auth
    note = notes.get_own_psychotherapy_note(actor, note_id)
    release = notes.release_psychotherapy_note(
        actor=actor,
        note=note,
        authorized_on=payload.authorized_on,
        expires_on=payload.expires_on,
        scope=payload.scope,
        recipient=payload.recipient,
    )
    return Status(
        201,
        {
            "id": release.pk,
            "note_id": note.pk,
            "authorized_on": release.authorized_on,
            "expires_on": release.expires_on,
            "scope": release.scope,
            "recipient": release.recipient,
        },
    )


# --- treatment plan and homework ------------------------------------------------------


def _homework_out(h: Homework) -> dict[str, Any]:
    return {
        "id": h.pk,
        "kind": h.kind,
        "title": h.title,
        "instructions": h.instructions,
        "due_on": h.due_on,
        "done_at": h.done_at,
    }


def _plan_out(plan: TreatmentPlan, patient: Patient) -> dict[str, Any]:
    return {
        "patient_id": patient.pk,
        "version": plan.version,
        "review_on": plan.review_on,
        "interventions": plan.interventions,
        "goals": [
            {
                "words": p.goal.words,
                "measure": p.goal.measure,
                "instrument": p.goal.instrument,
                "scale_label": p.goal.scale_label,
                "baseline": p.goal.baseline,
                "target": p.goal.target,
                "latest": p.latest,
                "reached": p.reached,
            }
            for p in plans.goal_progress(plan)
        ],
        "homework": [
            _homework_out(h)
            for h in Homework.objects.filter(clinic=plan.clinic_id, patient=patient)[:50]
        ],
    }


@router.get(
    "/patients/{patient_id}/plan", response=IntegrationPlanOut, auth=allow("integration.view")
)
def get_plan(request: ClinicRequest, patient_id: int) -> dict[str, Any]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "integration.view")
    plan = TreatmentPlan.objects.filter(patient=patient, clinic=actor.clinic).first()
    if plan is None:
        raise Http404("This patient has no treatment plan yet.")
    record(actor, "view", patient_id=patient.pk, obj=plan)
    return _plan_out(plan, patient)


@router.put(
    "/patients/{patient_id}/plan", response=IntegrationPlanOut, auth=allow("integration.plan")
)
def put_plan(request: ClinicRequest, patient_id: int, payload: IntegrationPlanIn) -> dict[str, Any]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "integration.plan")
    plan = plans.save_plan(
        actor=actor,
        patient=patient,
        goals=[g.dict(exclude={"latest", "reached"}) for g in payload.goals],
        interventions=payload.interventions,
        review_on=payload.review_on,
        version=payload.version,
    )
    return _plan_out(plan, patient)


@router.post(
    "/patients/{patient_id}/homework",
    response={201: IntegrationHomeworkOut},
    auth=allow("integration.plan"),
)
def post_homework(
    request: ClinicRequest, patient_id: int, payload: IntegrationHomeworkIn
) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "integration.plan")
    homework = plans.add_homework(actor=actor, patient=patient, **payload.dict())
    return Status(201, _homework_out(homework))


@router.post(
    "/homework/{homework_id}/done", response=IntegrationHomeworkOut, auth=allow("integration.plan")
)
def homework_done(request: ClinicRequest, homework_id: int) -> dict[str, Any]:
    actor = request.auth
    homework = Homework.objects.for_clinic(actor.clinic).filter(pk=homework_id).first()
    if homework is None:
        raise Http404("No such practice.")
    return _homework_out(plans.mark_homework_done(actor=actor, homework=homework))


# --- sessions, circles, the work list -------------------------------------------------


@router.put(
    "/integration/sessions/{appointment_id}/format",
    response=IntegrationFormatOut,
    auth=allow("integration.circle"),
)
def put_format(
    request: ClinicRequest, appointment_id: int, payload: IntegrationFormatIn
) -> dict[str, Any]:
    actor = request.auth
    appointment = Appointment.objects.for_clinic(actor.clinic).filter(pk=appointment_id).first()
    if appointment is None:
        raise Http404("No such session.")
    detail = set_format(
        actor=actor, appointment=appointment, mode=payload.mode, meeting_url=payload.meeting_url
    )
    return {
        "appointment_id": appointment.pk,
        "mode": detail.mode,
        "meeting_url": detail.meeting_url,
    }


def _circle_out(circle: Any) -> dict[str, Any]:
    return {
        "id": circle.pk,
        "title": circle.title,
        "therapist_id": circle.therapist_id,
        "room_id": circle.room_id,
        "start": circle.start,
        "end": circle.end,
        "mode": circle.mode,
        "meeting_url": circle.meeting_url,
        "status": circle.status,
        "seats": [
            {"patient_id": s.patient_id, "attendance": s.attendance} for s in circle.seats.all()
        ],
    }


@router.post(
    "/integration/circles", response={201: IntegrationCircleOut}, auth=allow("integration.circle")
)
def post_circle(request: ClinicRequest, payload: IntegrationCircleIn) -> Status:
    from django.core.exceptions import ValidationError

    from ketaclinic.accounts.models import Membership

    actor = request.auth
    therapist = Membership.objects.filter(clinic=actor.clinic, pk=payload.therapist_id).first()
    room = Room.objects.for_clinic(actor.clinic).filter(pk=payload.room_id).first()
    if therapist is None:
        raise ValidationError({"therapist_id": "Choose a therapist of this clinic."})
    if room is None:
        raise ValidationError({"room_id": "Choose a room of this clinic."})
    patients = list(Patient.objects.for_clinic(actor.clinic).filter(pk__in=payload.patient_ids))
    if len(patients) != len(set(payload.patient_ids)):
        raise ValidationError({"patient_ids": "Choose patients of this clinic."})
    circle = circles.create_circle(
        actor=actor,
        title=payload.title,
        therapist=therapist,
        room=room,
        start=payload.start,
        minutes=payload.minutes,
        capacity=payload.capacity,
        mode=payload.mode,
        meeting_url=payload.meeting_url,
        patients=patients,
    )
    return Status(201, _circle_out(circle))


@router.post(
    "/integration/circles/{circle_id}/attendance",
    response=IntegrationCircleOut,
    auth=allow("integration.attend"),
)
def post_attendance(
    request: ClinicRequest, circle_id: int, payload: IntegrationAttendanceIn
) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    actor = request.auth
    circle = circles.get_circle_for(actor, circle_id, "integration.attend")
    try:
        marks = {int(k): v for k, v in payload.attendance.items()}
    except ValueError:
        raise ValidationError({"attendance": "Key attendance by patient id."}) from None
    circles.mark_attendance(actor=actor, circle=circle, marks=marks)
    return _circle_out(circles.get_circle_for(actor, circle.pk))


def _planned_out(row: planning.PlannedRow) -> dict[str, Any]:
    item = row.item
    return {
        "id": item.pk,
        "patient_id": item.patient_id,
        "course_id": item.course_id,
        "kind": item.kind,
        "dosing_number": item.dosing_number,
        "opens": item.opens,
        "closes": item.closes,
        "appointment_id": item.appointment_id,
        "status": row.status,
    }


@router.get(
    "/integration/worklist", response=IntegrationWorklistOut, auth=allow("integration.view")
)
def worklist(request: ClinicRequest) -> dict[str, Any]:
    actor = request.auth
    mine = actor.membership if actor.role == "therapist" else None
    missed = planning.missed_for(actor.clinic, mine)
    due = notes.notes_due(actor) if actor.may("integration.note") else []
    record(
        actor,
        "view",
        detail={
            "what": "integration_worklist",
            "patients": sorted({r.item.patient_id for r in missed}),
        },
    )
    return {"missed": [_planned_out(r) for r in missed], "notes_due": [n.pk for n in due]}


@router.get(
    "/courses/{course_id}/integration",
    response=list[IntegrationPlannedOut],
    auth=allow("integration.view"),
)
def course_integration(request: ClinicRequest, course_id: int) -> list[dict[str, Any]]:
    actor = request.auth
    course = get_course_for(actor, course_id, "integration.view")  # 404 outside the clinic
    rows = planning.planned_rows(
        planning.planned_for(actor.clinic).filter(course_id=course.pk)[:100]
    )
    record(
        actor,
        "view",
        patient_id=course.patient_id,
        detail={"what": "course_integration", "course": course.pk},
    )
    return [_planned_out(r) for r in rows]
