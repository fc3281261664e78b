"""Registering a patient from the page form, as every role, with valid, empty and hostile input."""

from __future__ import annotations

from datetime import date

import pytest

from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Patient
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

MAY_CREATE = ["admin", "physician", "nurse", "front_desk"]

VALID = {
    "given_name": "Ana",
    "family_name": "Ødegård",
    "birth_date": "1990-05-17",
    "sex_at_birth": "female",
    "status": "referred",
    "weight": "154",
    "weight_unit": "lb",
    "height": "170",
    "height_unit": "cm",
    "email": "ana@example.org",
    "phone": "+1 207 555 0199",
}


@pytest.mark.parametrize("role", MAY_CREATE)
def test_it_registers_a_patient_from_the_form(role, clinic, staff, login):
    response = login(staff[role]).post("/patients/new/", VALID)

    patient = Patient.objects.get(clinic=clinic)
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"
    assert (patient.given_name, patient.family_name, patient.mrn) == ("Ana", "Ødegård", "MRN000001")
    assert patient.birth_date == date(1990, 5, 17)
    assert str(patient.weight_kg) == "69.9"  # 154 lb
    assert patient.family_key == "odegard"
    created = AuditEvent.objects.get(action="create", patient_id=patient.pk)
    assert created.user_id == staff[role].user_id


@pytest.mark.parametrize("role", MAY_CREATE)
def test_an_empty_form_names_each_missing_field_and_writes_nothing(role, staff, login):
    response = login(staff[role]).post("/patients/new/", {})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {"given_name", "family_name", "birth_date", "sex_at_birth"}
    assert Patient.objects.count() == 0


HOSTILE = [
    ({"given_name": "A\x00na"}, "given_name", "Null characters are not allowed."),
    ({"family_name": "x" * 10_000}, "family_name", "at most 100 characters"),
    ({"birth_date": "9999-12-31"}, "birth_date", "cannot be in the future"),
    ({"birth_date": "1066-10-14"}, "birth_date", "over 130 years ago"),
    ({"birth_date": "31/31/2020"}, "birth_date", "Enter a valid date."),
    ({"weight": "9" * 40}, "weight", "Ensure that there are no more than 6 digits"),
    ({"weight": "12"}, "weight", "between 25 and 350 kg"),
    ({"height": "-5"}, "height", "greater than or equal to 0"),
    ({"email": "<script>alert(1)</script>"}, "email", "Enter a valid email address."),
    ({"sex_at_birth": "robot"}, "sex_at_birth", "Select a valid choice."),
]


@pytest.mark.parametrize(("change", "field", "message"), HOSTILE)
def test_hostile_input_is_refused_next_to_its_field_and_kept(change, field, message, staff, login):
    response = login(staff["front_desk"]).post("/patients/new/", VALID | change)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert Patient.objects.count() == 0
    # The other typed values are still in the form.
    assert 'value="Ana"' in response.text or field == "given_name"


def test_a_script_in_a_name_is_stored_as_text_and_shown_escaped(staff, login):
    client = login(staff["front_desk"])
    client.post("/patients/new/", VALID | {"given_name": "<script>alert(1)</script>"})

    patient = Patient.objects.get()
    chart = client.get(f"/patients/{patient.pk}/")
    assert "<script>alert(1)</script>" not in chart.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in chart.text


def test_a_taken_mrn_is_refused_at_the_field(patient, staff, login):
    response = login(staff["front_desk"]).post("/patients/new/", VALID | {"mrn": patient.mrn})

    assert response.status_code == 200
    assert response.context["form"].errors["mrn"] == ["This MRN is already in use in this clinic."]
    assert Patient.objects.count() == 1


def test_a_therapist_may_not_register_and_nothing_is_written(staff, login):
    client = login(staff["therapist"])
    with nothing_changed(Patient):
        assert client.get("/patients/new/").status_code == 403
        assert client.post("/patients/new/", VALID).status_code == 403
    assert Patient.objects.count() == 0


def test_the_form_needs_its_csrf_token(staff):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff["front_desk"].user)
    assert client.post("/patients/new/", VALID).status_code == 403
    assert Patient.objects.count() == 0


def test_a_nul_byte_in_a_search_is_ignored_rather_than_failing(patient, staff, login):
    response = login(staff["front_desk"]).post("/patients/", {"q": "Gar\x00"})
    assert response.status_code == 200
    assert "Garcia, Maria" in response.text
