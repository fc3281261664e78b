"""Demo patient portal: one patient with a portal account (password ketaclinic-demo), an
appointment today where the schedule has one, a questionnaire due, practices, two journal
entries (one shared), a message thread the care team has answered, and the summaries of
their latest signed sessions released to the portal's documents.

Idempotent: a clinic that already has a portal account is left alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership, User
from ketaclinic.accounts.roles import Role
from ketaclinic.integration.models import Homework, HomeworkKind, JournalEntry
from ketaclinic.measures.models import QuestionnaireLink
from ketaclinic.portal import summaries
from ketaclinic.portal.models import AppointmentRequest, Message, PortalAccount, Thread
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.models import TreatmentSession

PASSWORD = "ketaclinic-demo"
RELEASED_SUMMARIES = 3


def _pick(clinic: Any, patients: list[Any]) -> Any:
    """A patient with history (a visit held) and a booked treatment today (still to come),
    else the next with history, else the next booked one: the portal then has progress and
    documents to show at any hour."""
    now = timezone.now()
    today = timezone.localdate(now, clinic.tz)
    held = set(
        Appointment.objects.filter(
            clinic=clinic, patient__in=patients, status="completed"
        ).values_list("patient_id", flat=True)
    )
    booked = (
        Appointment.objects.filter(
            clinic=clinic,
            patient__in=patients,
            status="booked",
            end__gt=now,
            treatment_session__isnull=True,
        )
        .exclude(patient__email="")
        .order_by("start")
    )
    upcoming = list(booked[:50])

    def comes_today(appointment: Appointment) -> bool:
        return timezone.localdate(appointment.start, clinic.tz) == today

    for wanted in (
        lambda a: comes_today(a) and a.patient_id in held,
        # No one with history comes today (later in the day): the next who does, so the
        # portal still has progress and documents (a superbill) to show.
        lambda a: a.patient_id in held,
        comes_today,
    ):
        for appointment in upcoming:
            if wanted(appointment):
                return appointment.patient
    first = booked.first()
    return first.patient if first else (patients[0] if patients else None)


def seed(clinic: Any, patients: list[Any]) -> None:
    if PortalAccount.objects.filter(clinic=clinic).exists():
        return
    patient = _pick(clinic, patients)
    if patient is None or not patient.email:
        return
    therapist = (
        Membership.objects.select_related("user")
        .filter(clinic=clinic, role="therapist", is_active=True)
        .first()
    )
    nurse = (
        Membership.objects.select_related("user")
        .filter(clinic=clinic, role="nurse", is_active=True)
        .first()
    )
    if therapist is None or nurse is None:
        return
    now = timezone.now()
    email = patient.email.lower()
    user = User.objects.filter(username=email).first()
    if user is None:
        user = User(username=email, email=email, first_name=patient.given_name)
        user.last_name = patient.family_name
    user.set_password(PASSWORD)
    user.save()
    membership, _ = Membership.objects.get_or_create(
        user=user, clinic=clinic, defaults={"role": Role.PATIENT.value}
    )
    PortalAccount.objects.create(
        clinic=clinic,
        user=user,
        membership=membership,
        patient=patient,
        invited_by=nurse.user,
        created_at=now - timedelta(days=20),
        activated_at=now - timedelta(days=19),
    )
    QuestionnaireLink.objects.create(
        clinic=clinic,
        patient=patient,
        instruments=["phq9", "gad7"],
        created_at=now,
        expires_at=now + timedelta(hours=72),
        sent_by=nurse.user,
        last_sent_at=now,
    )
    for kind, title, text in (
        (HomeworkKind.BREATHING, "Slow breathing, 5 minutes a day", "Four counts in, six out."),
        (HomeworkKind.WALKING, "A 20-minute walk outside", "Notice five things you can see."),
        (HomeworkKind.JOURNAL, "Write about what stayed with you", "A few lines are enough."),
    ):
        Homework.objects.create(
            clinic=clinic,
            patient=patient,
            kind=kind,
            title=title,
            instructions=text,
            due_on=timezone.localdate(now, clinic.tz) + timedelta(days=5),
            created_by=therapist.user,
        )
    JournalEntry.objects.create(
        clinic=clinic,
        patient=patient,
        text="Slept better last night. Still tired in the afternoon.",
        created_at=now - timedelta(days=3),
    )
    JournalEntry.objects.create(
        clinic=clinic,
        patient=patient,
        text="After the session I felt lighter, and I called my sister for the first time "
        "in months.",
        created_at=now - timedelta(days=2),
        shared_at=now - timedelta(days=2),
    )
    thread = Thread.objects.create(
        clinic=clinic,
        patient=patient,
        subject="Question about my next session",
        created_at=now - timedelta(days=1, hours=3),
        last_message_at=now - timedelta(days=1),
        assigned_to=nurse,
        unread_by_patient=True,
    )
    Message.objects.create(
        thread=thread,
        author=user,
        from_patient=True,
        body="Can I have coffee in the morning before my session?",
        created_at=now - timedelta(days=1, hours=3),
    )
    Message.objects.create(
        thread=thread,
        author=nurse.user,
        from_patient=False,
        body="Black coffee is fine until 30 minutes before; no food in the 2 hours before.",
        created_at=now - timedelta(days=1),
    )
    # The nurse released the latest signed sessions' summaries (Documents).
    signed = TreatmentSession.objects.filter(
        clinic=clinic, patient=patient, nurse_signed_at__isnull=False
    ).order_by("-started_at")[:RELEASED_SUMMARIES]
    for session in signed:
        summaries.release(actor=Actor(user=nurse.user, membership=nurse), session=session)
    # A request in the front desk's queue (the latest appointment asks to be moved).
    latest = Appointment.objects.filter(clinic=clinic, patient=patient).order_by("-start").first()
    if latest is not None:
        AppointmentRequest.objects.create(
            clinic=clinic,
            patient=patient,
            appointment=latest,
            kind="reschedule",
            note="Could we make it an hour later?",
            created_at=now - timedelta(hours=5),
        )


def login_line(clinic: Any) -> str | None:
    """The demo patient's log-in, for `demo_logins`."""
    account = PortalAccount.objects.select_related("user", "patient").filter(clinic=clinic).first()
    if account is None:
        return None
    return (
        f"  {account.user.username:<18} patient     {account.patient.given_name} "
        f"{account.patient.family_name} — the patient portal, /portal/"
    )
