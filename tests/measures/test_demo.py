"""The demo clinic's questionnaire histories: varied courses and two open alerts."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from ketaclinic.accounts.models import Membership
from ketaclinic.measures import services
from ketaclinic.measures.models import Alert, Response
from ketaclinic.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_the_demo_has_varied_courses_and_two_open_alerts(login):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    patients = list(Patient.objects.filter(clinic__slug="harbor").order_by("mrn"))
    finished, treated = [], []
    for patient in patients:
        started = services.first_treatment_at(patient)
        for series in services.series_for(services.totals_for(patient), started):
            if series.instrument.code != "phq9":
                continue
            if patient.status in ("maintenance", "inactive"):
                finished.append(series.summary)
            if started is not None:
                treated.append((started, series.summary))
    # A finished course: baseline + 8 weekly follow-ups, with varied outcomes.
    assert finished and all(s.count == 9 for s in finished)
    assert any(s.remission for s in finished)
    assert any(s.response and not s.remission for s in finished)
    assert any(s.response is False for s in finished)
    # A course under way: the baseline is the last score before the first dose.
    assert treated
    for started, summary in treated:
        assert summary.baseline.at < started
    open_alerts = Alert.objects.filter(status="open")
    assert open_alerts.count() == 2
    assert set(open_alerts.values_list("code", "level")) == {("suicidality", "urgent")}
    # Seeded history: the physician was told then; the worker has nothing to e-mail.
    assert not open_alerts.filter(notified_at__isnull=True).exists()
    # A finished course predates the software: the chart says no sessions are recorded
    # here rather than "no treatment yet" over nine improving scores.
    maintenance = next(p for p in patients if p.status == "maintenance")
    physician = Membership.objects.filter(clinic__slug="harbor", role="physician").first()
    html = login(physician).get(f"/patients/{maintenance.pk}/").content.decode()
    assert "No treatment sessions recorded here: baseline is the first score." in html
    assert "No treatment yet" not in html
    assert not Response.objects.exclude(clinic__slug="harbor").exists()
