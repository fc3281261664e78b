"""Published outcomes: admin only, de-identified, small cells withheld, public without log-in."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ketaclinic.audit.models import AuditEvent
from ketaclinic.clinical.disclosure import MIN_RATE_DENOMINATOR
from ketaclinic.outcomes.models import Publication
from ketaclinic.patients.models import Patient
from tests.outcomes.factories import history

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic_history(clinic, staff):
    return history(clinic, staff, patients=80)


def _cells(snapshot):
    for table in snapshot["tables"]:
        for row in table["rows"]:
            yield table, row


def test_an_empty_post_publishes_the_default_snapshot(clinic_history, clinic, staff, api_client):
    response = api_client(staff["admin"]).post("/api/v1/outcomes/publications")
    assert response.status_code == 201
    body = response.json()
    snapshot = body["snapshot"]
    assert snapshot["clinic"] == {"name": "Harbor Light", "slug": "harbor"}
    assert snapshot["period"]["from"] is None
    codes = [t["code"] for t in snapshot["tables"]]
    assert "response_phq9" in codes and "dropouts" in codes and "safety" in codes
    assert Publication.objects.get(pk=body["id"]).tables == ["outcomes", "dropouts", "safety"]
    event = AuditEvent.objects.get(action="publish")
    assert event.user == staff["admin"].user
    # The same snapshot, unchanged, to anyone.
    public = Client().get("/api/v1/public/outcomes?clinic=harbor")
    assert public.status_code == 200
    assert public.json() == snapshot


def test_an_empty_json_object_also_publishes_the_default(clinic_history, staff, api_client):
    response = api_client(staff["admin"]).post(
        "/api/v1/outcomes/publications", "{}", content_type="application/json"
    )
    assert response.status_code == 201


def test_small_counts_are_withheld_and_none_can_be_worked_out(clinic_history, staff, api_client):
    snapshot = api_client(staff["admin"]).post("/api/v1/outcomes/publications").json()["snapshot"]
    suppressed = 0
    for table, row in _cells(snapshot):
        cells = row["cells"]
        for cell in cells:
            if cell["suppressed"]:
                suppressed += 1
                assert cell["value"] is None and cell["text"] == "fewer than 11"
            else:
                assert not 1 <= cell["value"] <= 10
        # Along a row (cells and total), never exactly one withheld entry.
        assert sum(c["suppressed"] for c in cells) != 1, (table["code"], row["label"])
        if row["rate"] is not None:
            assert cells[-1]["value"] >= MIN_RATE_DENOMINATOR
    for table in snapshot["tables"]:
        for column in range(len(table["columns"])):
            column_hidden = [r["cells"][column]["suppressed"] for r in table["rows"]]
            assert sum(column_hidden) != 1, (table["code"], table["columns"][column])
    assert suppressed  # an 80-patient history has small groups


def test_the_snapshot_holds_no_patient_data_and_no_dates_finer_than_a_month(
    clinic_history, clinic, staff, api_client
):
    snapshot = (
        api_client(staff["admin"])
        .post(
            "/api/v1/outcomes/publications",
            json.dumps({"from": "2025-01", "to": "2026-11"}),
            content_type="application/json",
        )
        .json()["snapshot"]
    )
    text = json.dumps(snapshot)
    for patient in Patient.objects.filter(clinic=clinic)[:40]:
        assert patient.mrn not in text
        assert patient.family_name not in text
    assert snapshot["period"] == {"from": "2025-01", "to": "2026-11"}
    assert len(snapshot["published"]) == 7  # YYYY-MM
    # Drop-out reasons are free text: counted, never quoted.
    assert "Moved away" not in text


@pytest.mark.parametrize("role", ["physician", "nurse", "therapist", "front_desk"])
def test_only_an_admin_publishes(clinic_history, staff, api_client, login, role):
    assert api_client(staff[role]).post("/api/v1/outcomes/publications").status_code == 403
    assert login(staff[role]).post("/outcomes/publish/").status_code == 403
    assert not Publication.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2026-13"}, "from"),
        ({"to": "x\u0000"}, "to"),
        ({"from": "9999-01"}, "from"),
        ({"from": "2026-06", "to": "2026-01"}, "to"),
        ({"tables": ["everything"]}, "tables"),
    ],
)
def test_a_bad_publication_names_the_field_and_publishes_nothing(
    clinic_history, staff, api_client, body, field
):
    response = api_client(staff["admin"]).post(
        "/api/v1/outcomes/publications", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert not Publication.objects.exists()


def test_the_publish_page_previews_then_publishes(clinic_history, clinic, staff, login):
    client = login(staff["admin"])
    preview = client.get("/outcomes/publish/?from=2025-01&tables=safety")
    assert preview.status_code == 200
    assert [t["code"] for t in preview.context["snapshot"]["tables"]] == ["safety"]
    assert not Publication.objects.exists()
    bad = client.post("/outcomes/publish/", {"from": "<script>", "tables": ["safety"]})
    assert bad.status_code == 422
    assert "Enter a month as YYYY-MM." in bad.content.decode()
    assert "<script>" not in bad.content.decode()
    assert not Publication.objects.exists()
    done = client.post("/outcomes/publish/", {"from": "2025-01", "tables": ["safety"]})
    assert done.status_code == 302
    assert Publication.objects.get().tables == ["safety"]


def test_the_public_sees_only_published_snapshots(clinic_history, clinic, staff, api_client):
    anonymous = Client()
    assert anonymous.get("/api/v1/public/outcomes?clinic=harbor").status_code == 404
    assert anonymous.get("/api/v1/public/outcomes?clinic=%00").status_code == 404
    assert anonymous.get("/api/v1/public/outcomes").status_code == 422
    assert anonymous.get("/outcomes/published/harbor/").status_code == 404
    assert anonymous.get("/outcomes/published/").status_code == 200
    api_client(staff["admin"]).post("/api/v1/outcomes/publications")
    page = anonymous.get("/outcomes/published/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Harbor Light" in html
    assert "fewer than 11" in html
    assert "How these numbers are made" in html
    # Live numbers never reach the public: a new patient changes nothing published.
    before = anonymous.get("/api/v1/public/outcomes?clinic=harbor").json()
    history(clinic, staff, patients=20, prefix="ZZ", seed=9)
    assert anonymous.get("/api/v1/public/outcomes?clinic=harbor").json() == before
