"""The demo clinic's dashboard agrees with every patient's own outcomes, and shows suppression."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.measures import services as measures
from ketaclinic.outcomes import services
from ketaclinic.outcomes.models import Publication
from ketaclinic.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_the_demo_dashboard_agrees_with_per_patient_outcomes_and_publishes_with_suppression():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    doctor = Membership.objects.select_related("user", "clinic").get(user__username="dr.chen")
    actor = Actor(user=doctor.user, membership=doctor)
    clinic = doctor.clinic
    assert Patient.objects.filter(clinic=clinic).count() >= 150

    for instrument in ("phq9", "gad7", "pcl5"):
        own = {"response": set(), "remission": set()}
        for patient in Patient.objects.filter(clinic=clinic):
            for row in measures.outcomes_for(actor=actor, patient=patient):
                if row["instrument"] == instrument:
                    for what in own:
                        if row[what] is True:
                            own[what].add(patient.pk)
        for group_by in services.GROUPINGS:
            result = services.summary(
                clinic, services.Filters(instrument=instrument, group_by=group_by)
            )
            assert sum(g["responders"] for g in result["groups"]) == len(own["response"])
            assert sum(g["remitters"] for g in result["groups"]) == len(own["remission"])
            assert (
                sum(g["patients"] for g in result["groups"])
                == Patient.objects.filter(clinic=clinic).count()
            )
        filters = services.Filters(instrument=instrument)
        for measure, what in (("responders", "response"), ("remitters", "remission")):
            behind = services.patients_behind(clinic, filters, measure=measure, key="all")
            assert set(behind.values_list("pk", flat=True)) == own[what]

    phq9 = services.summary(clinic, services.Filters())
    assert phq9["curve"].events > 10 and phq9["curve"].median is not None
    assert services.safety(clinic, services.Filters())["adverse_events"]["total"] > 0

    published = Publication.objects.get(clinic=clinic)
    cells = [
        cell
        for table in published.snapshot["tables"]
        for row in table["rows"]
        for cell in row["cells"]
    ]
    assert any(c["suppressed"] for c in cells)
    assert all(c["value"] is None or not 1 <= c["value"] <= 10 for c in cells)
