"""Portal personas: Maria Garcia (the clinic's patient) with a portal account, and a second
patient of the same clinic, Tom Baker, with his own account and his own rows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.integration.models import Homework
from ketaclinic.measures.models import QuestionnaireLink
from ketaclinic.patients.models import Patient
from ketaclinic.portal import services
from ketaclinic.scheduling.models import Appointment, Room

PATIENT_PASSWORD = "a calm harbor at dawn"


@pytest.fixture(autouse=True)
def mail_at_once(monkeypatch):
    """E-mails queued with on_commit go out at once (tests run inside one transaction)."""
    monkeypatch.setattr(
        "django.db.transaction.on_commit", lambda func, using=None, robust=False: func()
    )


def actor_of(membership) -> Actor:
    return Actor(user=membership.user, membership=membership)


def make_account(staff_member, patient):
    """Invite `patient` as `staff_member` and set the password from the e-mailed link."""
    invitation = services.invite(actor=actor_of(staff_member), patient=patient)
    services.accept_invite(
        raw=invitation.raw, password=PATIENT_PASSWORD, confirm=PATIENT_PASSWORD, ip=None
    )
    invitation.account.refresh_from_db()
    return invitation.account


@pytest.fixture
def portal_patient(patient):
    patient.email = "maria.garcia@example.org"
    patient.save()
    return patient


@pytest.fixture
def account(staff, portal_patient):
    return make_account(staff["front_desk"], portal_patient)


@pytest.fixture
def other_patient(clinic):
    return Patient.objects.create(
        clinic=clinic,
        mrn="MRN000002",
        given_name="Tom",
        family_name="Baker",
        birth_date=date(1979, 5, 1),
        sex_at_birth="male",
        email="tom.baker@example.org",
    )


@pytest.fixture
def other_account(staff, other_patient):
    return make_account(staff["nurse"], other_patient)


@pytest.fixture
def room(clinic):
    return Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair", position=1)


def appointment_for(patient, room, *, start, hours=2, kind="treatment", status="booked"):
    return Appointment.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind=kind,
        room=room,
        start=start,
        end=start + timedelta(hours=hours),
        status=status,
    )


@pytest.fixture
def today_appointment(portal_patient, room):
    return appointment_for(portal_patient, room, start=timezone.now() - timedelta(minutes=5))


@pytest.fixture
def later_appointment(portal_patient, room):
    return appointment_for(portal_patient, room, start=timezone.now() + timedelta(days=7))


def due_link(patient, instruments=("phq9",)):
    now = timezone.now()
    return QuestionnaireLink.objects.create(
        clinic=patient.clinic,
        patient=patient,
        instruments=list(instruments),
        created_at=now,
        expires_at=now + timedelta(hours=72),
        last_sent_at=now,
    )


def homework_for(patient, therapist, title="Slow breathing"):
    return Homework.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind="breathing",
        title=title,
        created_by=therapist.user,
    )


@pytest.fixture
def other_rows(other_account, other_patient, room, staff):
    """Tom's own appointment, link, practice, journal entry and thread (Maria must reach none)."""
    actor = actor_of(other_account.membership)
    return {
        "appointment": appointment_for(
            other_patient, room, start=timezone.now() + timedelta(days=3)
        ),
        "link": due_link(other_patient),
        "homework": homework_for(other_patient, staff["therapist"]),
        "entry": services.write_journal(actor=actor, account=other_account, text="Tom's entry"),
        "thread": services.start_thread(
            actor=actor, account=other_account, subject="Tom asks", body="Private question"
        ),
    }


@pytest.fixture
def patient_client(account):
    client = Client()
    client.force_login(account.user)
    return client
