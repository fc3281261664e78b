"""Appointment reminders and pre-appointment questionnaires (run by the worker)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db.models import Q

from ketaclinic.audit.services import record_system
from ketaclinic.clinical.protocols import Protocol
from ketaclinic.measures import services as measures_services
from ketaclinic.scheduling.models import Appointment, AppointmentStatus, CourseStatus

from .courses import course_protocol

# --- reminders and calendar feeds ----------------------------------------------------


def reminder_text(appointment: Appointment, protocol: Protocol | None) -> str:
    """The reminder e-mail body: when, where, and the protocol's instructions."""
    tz = appointment.clinic.tz
    when = appointment.start.astimezone(tz)
    lines = [
        f"Hello {appointment.patient.preferred_name or appointment.patient.given_name},",
        "",
        f"This is a reminder of your {appointment.get_kind_display().lower()} at "
        f"{appointment.clinic.name} on {when:%A %d %B %Y at %H:%M}.",
    ]
    if protocol is not None:
        lines += ["", "Before your treatment:"]
        lines += [f"- {item.text}" for item in protocol.patient_instructions]
    lines += [
        "",
        f"To change the time, call us{' on ' + appointment.clinic.phone if appointment.clinic.phone else ''}.",
    ]
    return "\n".join(lines)


def send_due_reminders(now: datetime) -> int:
    """E-mail every patient whose booked session is due a reminder; returns e-mails sent.

    A reminder is due ``reminder_hours_before`` (clinic setting, default 48) before the
    start. Each appointment is claimed with a conditional UPDATE first, so two workers
    never send the same reminder; a move clears ``reminded_at`` so the new time is sent.
    """
    sent = 0
    horizon = now + timedelta(hours=168)
    due = (
        Appointment.objects.filter(
            status=AppointmentStatus.BOOKED,
            reminded_at__isnull=True,
            start__gt=now,
            start__lte=horizon,
        )
        # No reminder for a session of a paused or ended course.
        .filter(
            Q(course__isnull=True)
            | Q(course__status__in=[CourseStatus.PLANNED, CourseStatus.ACTIVE])
        )
        .exclude(patient__email="")
        .select_related("patient", "clinic", "course", "clinic__scheduling_settings")
    )
    for appointment in due:
        settings = getattr(appointment.clinic, "scheduling_settings", None)
        hours = settings.reminder_hours_before if settings else 48
        if appointment.start > now + timedelta(hours=hours):
            continue
        claimed = Appointment.objects.filter(pk=appointment.pk, reminded_at__isnull=True).update(
            reminded_at=now
        )
        if not claimed:
            continue
        protocol = course_protocol(appointment.course) if appointment.course else None
        try:
            send_mail(
                subject=f"Your appointment at {appointment.clinic.name}",
                message=reminder_text(appointment, protocol),
                from_email=None,
                recipient_list=[appointment.patient.email],
            )
        except Exception:  # noqa: BLE001 - the mail server failed: release the claim, retry next run
            Appointment.objects.filter(pk=appointment.pk).update(reminded_at=None)
            continue
        record_system(
            "reminder_sent", clinic=appointment.clinic, detail={"appointment": appointment.pk}
        )
        sent += 1
    return sent


# Questionnaires "before every appointment" go out this long before it starts (issue 3).
QUESTIONNAIRE_HOURS_BEFORE = 24


def send_pre_appointment_questionnaires(now: datetime) -> int:
    """Send each patient's before-appointment questionnaires for sessions starting within 24 h."""
    sent = 0
    due = Appointment.objects.filter(
        status=AppointmentStatus.BOOKED,
        questionnaires_sent_at__isnull=True,
        start__gt=now,
        start__lte=now + timedelta(hours=QUESTIONNAIRE_HOURS_BEFORE),
    ).select_related("patient")
    for appointment in due:
        # Claim first (compare-and-set) so two workers never send twice.
        claimed = Appointment.objects.filter(
            pk=appointment.pk, questionnaires_sent_at__isnull=True
        ).update(questionnaires_sent_at=now)
        if claimed:
            sent += measures_services.send_before_appointment(patient=appointment.patient, now=now)
    return sent
