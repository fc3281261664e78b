"""Questionnaire schedules and the worker's sending: before appointments, due links, reminders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.audit.services import record, record_system
from ketaclinic.measures.models import QuestionnaireLink, Schedule, ScheduleKind
from ketaclinic.patients.models import Patient
from ketaclinic.patients.restricted import check_chart

from .config import link_reminders
from .questionnaire_links import _check_bundle, _mail_link, _new_link, _new_token

# --------------------------------------------------------------------------- schedules


def add_schedule(
    *,
    actor: Actor,
    patient: Patient,
    instruments: Sequence[str],
    kind: str,
    every_days: int | None = None,
) -> Schedule:
    """Start sending a bundle every N days, or 24 h before every appointment."""
    actor.check("measures.send")
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This patient belongs to another clinic.")
    bundle = _check_bundle(instruments)
    if kind not in ScheduleKind.values:
        raise ValidationError({"kind": f"Choose one of: {', '.join(ScheduleKind.values)}."})
    if kind == ScheduleKind.EVERY_N_DAYS:
        if (
            not isinstance(every_days, int)
            or isinstance(every_days, bool)
            or not 1 <= every_days <= 365
        ):
            raise ValidationError({"every_days": "Give a whole number of days from 1 to 365."})
    else:
        every_days = None
    now = timezone.now()
    with transaction.atomic():
        schedule = Schedule.objects.create(
            clinic=actor.clinic,
            patient=patient,
            instruments=bundle,
            kind=kind,
            every_days=every_days,
            # The first questionnaire goes out on the worker's next pass.
            next_due_at=now if kind == ScheduleKind.EVERY_N_DAYS else None,
            created_by=actor.user,
        )
        record(
            actor,
            "create",
            patient_id=patient.pk,
            obj=schedule,
            detail={"kind": kind, "every_days": every_days, "instruments": bundle},
        )
    return schedule


def _schedule_guard(actor: Actor, schedule: Schedule) -> None:
    check_chart(actor, schedule.patient)


def get_schedule_for(
    actor: Actor, schedule_id: int | str, action: str = "measures.send"
) -> Schedule:
    """The questionnaire schedule with this id in the actor's clinic, or 404."""
    return get_for(
        actor,
        Schedule,
        schedule_id,
        action,
        related=("patient",),
        what="questionnaire schedule",
        guard=_schedule_guard,
    )


def schedules_of(*, actor: Actor, patient: Patient) -> list[Schedule]:
    """The patient's running questionnaire schedules, oldest first (audited with their ids)."""
    actor.check("measures.send")
    found = list(
        Schedule.objects.filter(clinic=actor.clinic, patient=patient, is_active=True).order_by("pk")
    )
    record(
        actor,
        "view",
        patient_id=patient.pk,
        object_type="measures.schedule",
        detail={"ids": [s.pk for s in found]},
    )
    return found


def links_of(*, actor: Actor, patient: Patient, limit: int = 50) -> list[QuestionnaireLink]:
    """The patient's questionnaire links, newest first (audited with their ids)."""
    actor.check("measures.send")
    found = list(
        QuestionnaireLink.objects.filter(clinic=actor.clinic, patient=patient).order_by(
            "-created_at", "-pk"
        )[:limit]
    )
    record(
        actor,
        "view",
        patient_id=patient.pk,
        object_type="measures.questionnairelink",
        detail={"ids": [link.pk for link in found]},
    )
    return found


def stop_schedule(*, actor: Actor, schedule: Schedule) -> None:
    """Stop a schedule (kept for the record)."""
    actor.check("measures.send")
    if schedule.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This schedule belongs to another clinic.")
    with transaction.atomic():
        Schedule.objects.filter(pk=schedule.pk).update(is_active=False)
        record(
            actor,
            "update",
            patient_id=schedule.patient_id,
            obj=schedule,
            detail={"is_active": False},
        )


def send_before_appointment(*, patient: Patient, now: datetime) -> int:
    """Send the patient's "before every appointment" questionnaires; returns links sent.

    Scheduling calls this 24 h before each booked appointment (it owns the appointments);
    a schedule whose last link is still open is not sent again.
    """
    sent = 0
    schedules = Schedule.objects.filter(
        patient=patient, is_active=True, kind=ScheduleKind.BEFORE_APPOINTMENT
    ).select_related("patient", "clinic")
    for schedule in schedules:
        with transaction.atomic():
            if _send_scheduled(schedule, now):
                sent += 1
    return sent


def _send_scheduled(schedule: Schedule, now: datetime) -> bool:
    patient = schedule.patient
    if not patient.email:
        return False
    pending = QuestionnaireLink.objects.filter(
        schedule=schedule, used_at__isnull=True, expires_at__gt=now
    ).exists()
    if pending:
        return False  # the last one is still open: do not pile links up
    link, raw = _new_link(
        clinic=schedule.clinic,
        patient=patient,
        bundle=list(schedule.instruments),
        now=now,
        sent_by_id=None,
        schedule=schedule,
    )
    record_system(
        "measures.link_send",
        clinic=schedule.clinic,
        detail={"link": link.pk, "patient": patient.pk, "schedule": schedule.pk},
    )
    _mail_link(link, raw, schedule.clinic.name, patient.email, reminder=False)
    return True


def _remind(link: QuestionnaireLink, now: datetime) -> bool:
    """Send a reminder with a fresh token; the tokens sent before stay valid beside it.

    Only hashes are stored, so the reminder cannot repeat the first token; it adds one.
    """
    if not link.patient.email:
        return False
    updated = QuestionnaireLink.objects.filter(
        pk=link.pk, used_at__isnull=True, reminders_sent=link.reminders_sent
    ).update(reminders_sent=link.reminders_sent + 1, last_sent_at=now)
    if not updated:
        return False
    raw = _new_token(link, now)
    record_system(
        "measures.link_remind",
        clinic=link.clinic,
        detail={"link": link.pk, "patient": link.patient_id, "reminder": link.reminders_sent + 1},
    )
    _mail_link(link, raw, link.clinic.name, link.patient.email, reminder=True)
    return True


def reminder_due(link: QuestionnaireLink, now: datetime, reminders: int | None = None) -> bool:
    """True when an unused link is due its next reminder.

    Reminders are spread evenly over the link's life: with 2 reminders on a 72 h link
    they go at 24 h and 48 h; after the last one the link simply expires.
    """
    count = link_reminders() if reminders is None else reminders
    if link.used_at is not None or link.expires_at <= now or link.reminders_sent >= count:
        return False
    step = (link.expires_at - link.created_at) / (count + 1)
    return now >= link.created_at + step * (link.reminders_sent + 1)


def send_due_questionnaires(now: datetime | None = None) -> int:
    """The worker's periodic pass: scheduled links and reminders; returns e-mails queued."""
    now = now or timezone.now()
    sent = 0
    due = (
        Schedule.objects.filter(
            is_active=True, kind=ScheduleKind.EVERY_N_DAYS, next_due_at__lte=now
        )
        .select_related("patient", "clinic")
        .order_by("next_due_at")[:500]
    )
    for schedule in due:
        with transaction.atomic():
            # Claim this due time (compare-and-set) so two workers never send twice.
            step = timedelta(days=schedule.every_days or 1)
            assert schedule.next_due_at is not None  # the query asks for a due time
            following = schedule.next_due_at + step
            while following <= now:
                following += step
            claimed = Schedule.objects.filter(
                pk=schedule.pk, next_due_at=schedule.next_due_at, is_active=True
            ).update(next_due_at=following)
            if claimed and _send_scheduled(schedule, now):
                sent += 1
    count = link_reminders()
    pending = (
        QuestionnaireLink.objects.filter(
            used_at__isnull=True, expires_at__gt=now, reminders_sent__lt=count
        )
        .select_related("patient", "clinic")
        .order_by("pk")[:1000]
    )
    for link in pending:
        if reminder_due(link, now, count):
            with transaction.atomic():
                if _remind(link, now):
                    sent += 1
    return sent
