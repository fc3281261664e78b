"""Helpers for measures tests: JSON posting, a physician with an e-mail address."""

from __future__ import annotations

import json

import pytest


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


PHQ9_URL = "/api/v1/patients/{}/measures"


@pytest.fixture
def doctor_email(staff):
    """Dr. Chen gets alert e-mails; other staff have no address (as in the fixtures)."""
    user = staff["physician"].user
    user.email = "chen@harbor.example"
    user.save(update_fields=["email"])
    return user.email


def dosed_session(clinic, patient, physician, at):
    """A treatment session whose dose started at `at` (what outcomes read as "treatment")."""
    from datetime import timedelta

    from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse
    from ketaclinic.treatment.models import TreatmentSession

    room, _ = Room.objects.get_or_create(
        clinic=clinic, name="Chair 1", defaults={"kind": "treatment_chair", "position": 1}
    )
    course = TreatmentCourse.objects.filter(clinic=clinic, patient=patient).first()
    if course is None:
        course = TreatmentCourse.objects.create(
            clinic=clinic,
            patient=patient,
            protocol_code="ketamine-iv-mood",
            protocol_version=1,
            family="ketamine-iv-mood",
            planned_sessions=6,
            start_date=at.date(),
            status="active",
            prescriber=physician.user,
            activated_at=at,
        )
    appointment = Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind="treatment",
        room=room,
        course=course,
        start=at - timedelta(minutes=15),
        end=at + timedelta(hours=2),
        status="completed",
    )
    return TreatmentSession.objects.create(
        clinic=clinic,
        patient=patient,
        appointment=appointment,
        course=course,
        room=room,
        protocol_code="ketamine-iv-mood",
        protocol_version=1,
        drug="ketamine",
        route="iv",
        state="discharged",
        started_at=at - timedelta(minutes=15),
        started_by=physician.user,
        dose_started_at=at,
        dose_ended_at=at + timedelta(minutes=40),
    )
