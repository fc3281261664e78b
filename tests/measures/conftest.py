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

    from ketaclinic.scheduling.models import TreatmentCourse
    from tests import builders

    course = TreatmentCourse.objects.filter(clinic=clinic, patient=patient).first()
    if course is None:
        course = builders.course(
            clinic, patient, physician.user, start_date=at.date(), activated_at=at
        )
    visit = builders.appointment(
        clinic,
        patient,
        course,
        builders.chair(clinic),
        start=at - timedelta(minutes=15),
        minutes=135,
        status="completed",
    )
    return builders.session(
        visit,
        physician.user,
        drug="ketamine",
        dose_started_at=at,
        dose_ended_at=at + timedelta(minutes=40),
    )
