"""Stopping a condition, medication or allergy from the chart (history is kept)."""

from __future__ import annotations

import pytest

from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Allergy, Condition, Medication, Patient
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "model", "fields"),
    [
        ("condition", Condition, {"code": "mdd"}),
        ("medication", Medication, {"name": "Sertraline"}),
        ("allergy", Allergy, {"substance": "Latex"}),
    ],
)
def test_a_nurse_stops_an_entry_and_it_stays_on_record(kind, model, fields, staff, patient, login):
    entry = model.objects.create(clinic=patient.clinic, patient=patient, **fields)
    response = login(staff["nurse"]).post(f"/patients/{patient.pk}/{kind}/{entry.pk}/stop/")
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.is_active is False
    assert AuditEvent.objects.filter(action="deactivate", patient_id=patient.pk).count() == 1


def test_another_clinics_entry_or_an_unknown_kind_is_not_found(staff, patient, other_clinic, login):
    other = Patient.objects.create(
        clinic=other_clinic,
        mrn="MRN900001",
        given_name="Ann",
        family_name="Lee",
        birth_date=patient.birth_date,
        sex_at_birth="female",
    )
    theirs = Condition.objects.create(clinic=other_clinic, patient=other, code="mdd")
    mine = Condition.objects.create(clinic=patient.clinic, patient=patient, code="mdd")
    client = login(staff["nurse"])
    with nothing_changed(Condition):
        assert client.post(f"/patients/{other.pk}/condition/{theirs.pk}/stop/").status_code == 404
        # The entry of another patient, reached through this patient's address.
        other_address = f"/patients/{patient.pk}/condition/{theirs.pk}/stop/"
        assert client.post(other_address).status_code == 404
        assert client.post(f"/patients/{patient.pk}/tattoo/{mine.pk}/stop/").status_code == 404
