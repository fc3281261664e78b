"""The whole chart page costs the same number of queries however long the history grows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.measures.services import record_response
from ketaclinic.patients.models import Medication

pytestmark = pytest.mark.django_db


def chart_queries(client, patient) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/patients/{patient.pk}/").status_code == 200
    return len(captured)


def add_history(staff, patient, weeks: int, start: int) -> None:
    nurse = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    for week in range(start, start + weeks):
        taken = timezone.now() - timedelta(days=7 * (60 - week))
        record_response(
            actor=nurse, patient=patient, instrument="phq9", answers=[1] * 8 + [0], taken_at=taken
        )
        record_response(
            actor=nurse, patient=patient, instrument="gad7", answers=[1] * 7, taken_at=taken
        )
        Medication.objects.create(
            clinic=patient.clinic, patient=patient, name=f"Drug {week}", med_class="other"
        )


def test_the_chart_query_count_does_not_grow_with_history(login, staff, patient):
    client = login(staff["physician"])
    add_history(staff, patient, weeks=2, start=0)
    short = chart_queries(client, patient)
    add_history(staff, patient, weeks=30, start=2)
    assert chart_queries(client, patient) == short
