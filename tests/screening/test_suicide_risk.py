"""The suicide risk a screening reads: the newest assessment by when it was assessed."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.measures.models import Response
from ketaclinic.screening import services
from ketaclinic.screening.models import IntakeVersion, Screening

pytestmark = pytest.mark.django_db

INTAKE = {"diagnoses": ["mdd"], "suicide_risk": "low"}


@pytest.fixture
def nurse(staff):
    return Actor(staff["nurse"].user, staff["nurse"])


def cssrs(patient, severity, taken_at):
    return Response.objects.create(
        clinic=patient.clinic,
        patient=patient,
        instrument="cssrs_screen",
        version=1,
        answers=[],
        severity=severity,
        taken_at=taken_at,
    )


def age_version(version, by):
    IntakeVersion.objects.filter(pk=version.pk).update(
        created_at=version.created_at - by, suicide_risk_assessed_at=version.created_at - by
    )


def test_resaving_the_old_risk_does_not_hide_a_later_high_cssrs(nurse, login, staff, patient):
    first = services.save_intake(actor=nurse, patient=patient, data=INTAKE)
    age_version(first, timedelta(hours=2))
    cssrs(patient, "high", timezone.now() - timedelta(hours=1))
    # The staff form pre-fills "low"; a nurse saves the intake again to fix the weight.
    second = services.save_intake(actor=nurse, patient=patient, data={**INTAKE, "weight_kg": 71})
    assert second.suicide_risk_assessed_at == first.created_at - timedelta(hours=2)
    assert services.facts_for(patient).suicide_risk == "high"
    page = login(staff["nurse"]).get(reverse("screening_intake", args=[patient.pk]))
    assert "rated the risk <strong>high</strong>" in page.content.decode()


def test_a_changed_risk_after_the_cssrs_is_the_newer_assessment(nurse, patient):
    first = services.save_intake(actor=nurse, patient=patient, data=INTAKE)
    age_version(first, timedelta(hours=2))
    cssrs(patient, "high", timezone.now() - timedelta(hours=1))
    changed = services.save_intake(
        actor=nurse, patient=patient, data={**INTAKE, "suicide_risk": "moderate"}
    )
    assert changed.suicide_risk_assessed_at == changed.created_at
    assert services.facts_for(patient).suicide_risk == "moderate"


def test_an_older_cssrs_does_not_replace_the_intakes_risk(nurse, patient):
    cssrs(patient, "high", timezone.now() - timedelta(days=3))
    services.save_intake(actor=nurse, patient=patient, data=INTAKE)
    assert services.facts_for(patient).suicide_risk == "low"


def test_a_database_error_reading_the_cssrs_fails_the_screening(nurse, patient, monkeypatch):
    services.save_intake(actor=nurse, patient=patient, data=INTAKE)

    def broken(*args, **kwargs):
        raise DatabaseError("measures table unavailable")

    monkeypatch.setattr(apps.get_model("measures", "Response").objects, "filter", broken)
    with pytest.raises(DatabaseError):
        services.run_screening(actor=nurse, patient=patient, protocol="ketamine-iv-mood")
    assert Screening.objects.count() == 0


def test_the_migration_dates_each_risk_by_the_version_that_first_recorded_it(nurse, patient):
    v1 = services.save_intake(actor=nurse, patient=patient, data=INTAKE)
    v2 = services.save_intake(actor=nurse, patient=patient, data={**INTAKE, "weight_kg": 71})
    v3 = services.save_intake(actor=nurse, patient=patient, data={"diagnoses": ["mdd"]})
    v4 = services.save_intake(actor=nurse, patient=patient, data=INTAKE)
    IntakeVersion.objects.update(suicide_risk_assessed_at=None)
    migration = import_module(
        "ketaclinic.screening.migrations.0002_intake_risk_assessed_at_and_patient_added"
    )
    migration.backfill_risk_assessed_at(apps, None)
    assert list(
        IntakeVersion.objects.order_by("version").values_list("suicide_risk_assessed_at", flat=True)
    ) == [v1.created_at, v1.created_at, None, v4.created_at]
    assert v2.pk and v3.pk
