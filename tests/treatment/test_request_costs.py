"""Reading a session writes nothing; a reading after the dose is a handful of statements."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.treatment import services
from ketaclinic.treatment.models import ChecklistResult, TreatmentSession, VitalReading
from tests.treatment.conftest import actor

from .conftest import clinic_today

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def journaled(settings, tmp_path):
    settings.AUDIT_JOURNAL = True
    settings.AUDIT_JOURNAL_DIR = tmp_path / "journal"


def _writes(captured) -> list[str]:
    return [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith(WRITES)]


def test_reading_a_session_before_the_dose_writes_nothing_yet_shows_the_checks_now(
    journaled, login, staff, iv_appointment, patient
):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    # The weight goes stale behind the checklist's back (no service told it).
    type(patient).objects.filter(pk=patient.pk).update(
        weight_measured_on=clinic_today() - timedelta(days=400)
    )
    stored = ChecklistResult.objects.get(session=session, item_id="weight_current")
    page, api = login(staff["nurse"]), login(staff["nurse"])

    with CaptureQueriesContext(connection) as captured:
        assert page.get(f"/treatment/sessions/{session.pk}/").status_code == 200
        response = api.get(f"/api/v1/sessions/{session.pk}")

    assert _writes(captured) == []
    shown = {row["item"]: row for row in json.loads(response.content)["checklist"]}
    assert shown["weight_current"]["status"] == "failed"
    assert "more than" in shown["weight_current"]["finding"]
    stored.refresh_from_db()
    assert stored.status == "met"  # stored as it was: the dose gate re-checks and stores


def test_a_reading_after_the_dose_is_a_few_statements(journaled, api_client, staff, iv_appointment):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    TreatmentSession.objects.filter(pk=session.pk).update(
        state="monitoring", dose_started_at=timezone.now() - timedelta(minutes=10)
    )
    client = api_client(staff["nurse"])
    body = {"systolic": 124, "diastolic": 79, "heart_rate": 70, "spo2": 98}
    url = f"/api/v1/sessions/{session.pk}/vitals"
    assert client.post(url, body, content_type="application/json").status_code == 201

    with CaptureQueriesContext(connection) as captured:
        response = client.post(url, body, content_type="application/json")

    assert response.status_code == 201
    # The rate-limit count, the session, the version bump, the reading before, the reading.
    assert len(captured) <= 7, [q["sql"][:80] for q in captured]
    assert VitalReading.objects.filter(session=session).count() == 2
    assert TreatmentSession.objects.get(pk=session.pk).version == session.version + 2


def test_a_stale_version_is_still_refused(journaled, api_client, staff, iv_appointment):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    TreatmentSession.objects.filter(pk=session.pk).update(
        state="monitoring", dose_started_at=timezone.now() - timedelta(minutes=10)
    )
    response = api_client(staff["nurse"]).post(
        f"/api/v1/sessions/{session.pk}/vitals",
        {"systolic": 124, "diastolic": 79, "version": session.version - 1 or 99},
        content_type="application/json",
    )

    assert response.status_code == 409
    assert not VitalReading.objects.filter(session=session).exists()
