from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Patient
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

NEW = {
    "given_name": "Omar",
    "family_name": "Haddad",
    "birth_date": "1990-05-01",
    "sex_at_birth": "male",
}


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


def test_it_creates_a_patient_with_the_next_mrn_and_audits_it(api_client, staff):
    response = post(api_client(staff["front_desk"]), "/api/v1/patients", NEW)
    assert response.status_code == 201
    body = response.json()
    assert body["mrn"] == "MRN000001"
    assert body["family_name"] == "Haddad"
    assert body["status"] == "referred"
    event = AuditEvent.objects.get(action="create", patient_id=body["id"])
    assert event.username == "lee" and event.role == "front_desk"


def test_it_refuses_a_birth_date_in_the_future_naming_the_field(api_client, staff):
    response = post(
        api_client(staff["nurse"]), "/api/v1/patients", {**NEW, "birth_date": "2999-01-01"}
    )
    assert response.status_code == 422
    assert any(err["loc"][-1] == "birth_date" for err in response.json()["detail"])
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weight_kg", 12),
        ("weight_kg", 400),
        ("height_cm", 30),
        ("sex_at_birth", "x"),
        ("email", "nope"),
        ("status", "gone"),
    ],
)
def test_it_refuses_impossible_values_naming_the_field(api_client, staff, field, value):
    response = post(api_client(staff["nurse"]), "/api/v1/patients", {**NEW, field: value})
    assert response.status_code == 422
    assert field in json.dumps(response.json()["detail"])
    assert not Patient.objects.exists()


def test_it_refuses_a_duplicate_mrn_in_the_same_clinic(api_client, staff, patient):
    response = post(api_client(staff["nurse"]), "/api/v1/patients", {**NEW, "mrn": patient.mrn})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "mrn"]
    assert Patient.objects.count() == 1


def test_it_hides_another_clinics_patient(api_client, outsider, patient):
    client = api_client(outsider)
    assert client.get(f"/api/v1/patients/{patient.pk}").status_code == 404
    assert patch(client, f"/api/v1/patients/{patient.pk}", {"phone": "1"}).status_code == 404
    assert client.get("/api/v1/patients?q=garcia").json()["count"] == 0


def test_it_answers_401_without_credentials(client, patient):
    assert client.get("/api/v1/patients").status_code == 401
    assert client.get(f"/api/v1/patients/{patient.pk}").status_code == 401
    assert Client_bad_token().get("/api/v1/patients").status_code == 401


def Client_bad_token():
    from django.test import Client

    return Client(headers={"Authorization": "Bearer kc_not-a-real-token"})


def test_it_updates_with_optimistic_locking(api_client, staff, patient):
    client = api_client(staff["nurse"])
    first = patch(client, f"/api/v1/patients/{patient.pk}", {"phone": "+1 555 0100", "version": 1})
    assert first.status_code == 200
    assert first.json()["version"] == 2
    stale = patch(client, f"/api/v1/patients/{patient.pk}", {"phone": "+1 555 0199", "version": 1})
    assert stale.status_code == 409
    patient.refresh_from_db()
    assert patient.phone == "+1 555 0100"


def test_an_update_records_which_fields_changed_but_not_their_values(api_client, staff, patient):
    patch(api_client(staff["nurse"]), f"/api/v1/patients/{patient.pk}", {"weight_kg": "72.5"})
    event = AuditEvent.objects.get(action="update", patient_id=patient.pk)
    assert event.detail == {"fields": ["weight_kg"]}
    patient.refresh_from_db()
    assert str(patient.weight_kg) == "72.5"


def test_search_by_name_mrn_and_birth_date(api_client, staff, patient, clinic):
    Patient.objects.create(
        clinic=clinic,
        mrn="MRN000002",
        given_name="Mateo",
        family_name="García-Ruiz",
        birth_date="1975-01-02",
        sex_at_birth="male",
    )
    Patient.objects.create(
        clinic=clinic,
        mrn="MRN000003",
        given_name="Emily",
        family_name="Walker",
        birth_date="1984-03-07",
        sex_at_birth="female",
    )
    client = api_client(staff["front_desk"])

    def names(q):
        return [p["family_name"] for p in client.get("/api/v1/patients", {"q": q}).json()["items"]]

    assert names("garc") == ["Garcia", "García-Ruiz"]
    assert names("Garcia, Mar") == ["Garcia"]
    assert names("maria garcia") == ["Garcia"]
    assert names("MRN000003") == ["Walker"]
    assert names("1984-03-07") == ["Garcia", "Walker"]
    assert names("03/07/1984") == ["Garcia", "Walker"]
    assert names("zz") == []


@pytest.mark.parametrize(
    ("family", "typed", "listed"),
    [
        ("Ødegård", "odegard", ["Garcia", "Ødegård"]),  # under O, not under D
        ("Strauß", "strauss", ["Garcia", "Strauß"]),
        ("Łukasiewicz", "lukas", ["Garcia", "Łukasiewicz"]),
        ("Ærø", "aero", ["Ærø", "Garcia"]),
        ("Đorđević", "dordevic", ["Đorđević", "Garcia"]),
    ],
)
def test_names_with_letters_that_do_not_decompose_are_found_and_sorted_by_their_letter(
    api_client, staff, patient, clinic, family, typed, listed
):
    Patient.objects.create(
        clinic=clinic,
        mrn="MRN000009",
        given_name="Ida",
        family_name=family,
        birth_date="1980-01-01",
        sex_at_birth="female",
    )
    client = api_client(staff["front_desk"])
    found = client.get("/api/v1/patients", {"q": typed}).json()["items"]
    assert [p["family_name"] for p in found] == [family]
    assert [p["family_name"] for p in client.get("/api/v1/patients").json()["items"]] == listed


def test_search_is_paginated_and_its_query_cost_is_constant(api_client, staff, clinic):
    Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            mrn=f"M{i:05d}",
            given_name="Ann",
            family_name=f"Smith{i:03d}",
            family_key=f"smith{i:03d}",
            given_key="ann",
            birth_date="1980-01-01",
            sex_at_birth="female",
        )
        for i in range(60)
    )
    client = api_client(staff["nurse"])
    client.get("/api/v1/patients", {"q": "smith"})  # token use recorded once
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/api/v1/patients", {"q": "smith", "page": 2}).json()
    assert body["count"] == 60
    assert [p["family_name"] for p in body["items"]][:2] == ["Smith025", "Smith026"]
    # token, its rate-limit count, last use, count, page, the audit chain's number, the event:
    # a fixed cost, whatever the clinic's size.
    assert len(queries) <= 7
    Patient.objects.bulk_create(
        Patient(
            clinic=clinic,
            mrn=f"N{i:05d}",
            given_name="Bo",
            family_name=f"Smithers{i:03d}",
            family_key=f"smithers{i:03d}",
            given_key="bo",
            birth_date="1980-01-01",
            sex_at_birth="male",
        )
        for i in range(200)
    )
    with CaptureQueriesContext(connection) as more:
        assert client.get("/api/v1/patients", {"q": "smith", "page": 2}).json()["count"] == 260
    assert len(more) == len(queries)


def test_clinical_lists_are_refused_to_the_front_desk(api_client, staff, patient):
    client = api_client(staff["front_desk"])
    with nothing_changed(Patient):
        assert client.get(f"/api/v1/patients/{patient.pk}/medications").status_code == 403
        url = f"/api/v1/patients/{patient.pk}/allergies"
        assert post(client, url, {"substance": "Latex"}).status_code == 403
    assert not patient.allergies.exists()


def test_a_nurse_records_a_medication_with_its_class(api_client, staff, patient):
    client = api_client(staff["nurse"])
    response = post(
        client,
        f"/api/v1/patients/{patient.pk}/medications",
        {"name": "Lorazepam", "med_class": "benzodiazepine", "dose": "0.5 mg"},
    )
    assert response.status_code == 201
    assert (
        client.get(f"/api/v1/patients/{patient.pk}/medications").json()[0]["med_class"]
        == "benzodiazepine"
    )
    bad = post(
        client, f"/api/v1/patients/{patient.pk}/medications", {"name": "X", "med_class": "candy"}
    )
    assert bad.status_code == 422 and "med_class" in json.dumps(bad.json())


def test_automatic_mrns_step_past_a_hand_entered_one(api_client, staff, patient, clinic):
    """patient holds MRN000001; a hand-entered MRN000002 must not block the next automatic one."""
    client = api_client(staff["front_desk"])
    assert post(client, "/api/v1/patients", NEW | {"mrn": "MRN000002"}).status_code == 201
    created = [post(client, "/api/v1/patients", NEW) for _ in range(2)]
    assert [r.status_code for r in created] == [201, 201]
    assert [r.json()["mrn"] for r in created] == ["MRN000003", "MRN000004"]


def test_a_patch_that_changes_nothing_is_still_an_audited_read(api_client, staff, patient):
    client = api_client(staff["front_desk"])
    response = patch(client, f"/api/v1/patients/{patient.pk}", {})
    assert response.status_code == 200 and response.json()["family_name"] == "Garcia"
    event = AuditEvent.objects.get(patient_id=patient.pk)
    assert (event.action, event.username) == ("view", "lee")


@pytest.mark.parametrize("field", ["email", "phone", "given_name", "status"])
def test_a_null_for_a_required_text_field_is_refused_naming_it(api_client, staff, patient, field):
    response = patch(
        api_client(staff["front_desk"]), f"/api/v1/patients/{patient.pk}", {field: None}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    before = patient.version
    patient.refresh_from_db()
    assert patient.version == before


def test_a_birth_date_of_tomorrow_in_the_clinic_is_the_future_even_via_a_token(
    api_client, staff, clinic, monkeypatch
):
    """An API token request runs in UTC; the clinic's own date decides what is the future."""
    clinic.timezone = "Pacific/Honolulu"
    clinic.save()
    staff["front_desk"].clinic.refresh_from_db()
    # 05:00 UTC on 1 December is 19:00 on 30 November in Honolulu: UTC is a day ahead.
    instant = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: instant)
    tomorrow = date(2026, 12, 1)
    response = post(
        api_client(staff["front_desk"]),
        "/api/v1/patients",
        NEW | {"birth_date": tomorrow.isoformat()},
    )
    assert response.status_code == 422
    assert "birth_date" in json.dumps(response.json()["detail"])
    assert not Patient.objects.filter(family_name="Haddad").exists()


def test_a_nurse_stops_a_medication_through_the_api_and_history_keeps_it(
    api_client, staff, patient
):
    client = api_client(staff["nurse"])
    med = post(
        client,
        f"/api/v1/patients/{patient.pk}/medications",
        {"name": "Lorazepam", "med_class": "benzodiazepine"},
    ).json()
    stopped = post(client, f"/api/v1/patients/{patient.pk}/medications/{med['id']}/stop", {})
    assert stopped.status_code == 200 and stopped.json()["is_active"] is False
    listed = client.get(f"/api/v1/patients/{patient.pk}/medications").json()
    assert [(m["name"], m["is_active"]) for m in listed] == [("Lorazepam", False)]
    assert AuditEvent.objects.filter(action="deactivate", patient_id=patient.pk).count() == 1
    refused = post(
        api_client(staff["front_desk"]),
        f"/api/v1/patients/{patient.pk}/medications/{med['id']}/stop",
        {},
    )
    assert refused.status_code == 403
