"""The demo clinic's questionnaire histories: varied courses, two open alerts, idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from ketaclinic.measures import services
from ketaclinic.measures.models import Alert, Response
from ketaclinic.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_the_demo_has_varied_courses_and_two_open_alerts():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    count = Response.objects.count()
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    assert Response.objects.count() == count  # idempotent
    patients = list(Patient.objects.filter(clinic__slug="harbor").order_by("mrn"))
    summaries = []
    for patient in patients:
        for series in services.series_for(patient, services.totals_for(patient)):
            if series.instrument.code == "phq9":
                summaries.append(series.summary)
    assert len(summaries) >= len(patients) * 3 // 4
    assert all(s.count == 9 for s in summaries)  # baseline + 8 weekly follow-ups
    assert any(s.remission for s in summaries)
    assert any(s.response and not s.remission for s in summaries)
    assert any(s.response is False for s in summaries)
    open_alerts = Alert.objects.filter(status="open")
    assert open_alerts.count() == 2
    assert set(open_alerts.values_list("code", "level")) == {("suicidality", "urgent")}
    assert not Response.objects.exclude(clinic__slug="harbor").exists()
