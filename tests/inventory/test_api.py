"""The ledger API: products, receipts, balances, waste and its witness, counts, the ledger."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from ketaclinic.audit.models import AuditEvent
from ketaclinic.inventory.models import LedgerEntry, Lot, Product
from tests.conftest import PASSWORD
from tests.inventory.conftest import DEA

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


PRODUCT = {
    "name": "Ketamine 50 mg/mL, 10 mL vial",
    "ndc": "12345-0050-10",
    "substance": "ketamine",
    "unit": "mL",
    "mg_per_unit": "50",
    "units_per_container": "10",
}


def receipt_body(product_id, dea=DEA):
    return {
        "product": product_id,
        "lot": "K2401",
        "expiry": "2027-06-30",
        "containers": 10,
        "supplier": {"name": "Northeast Medical", "address": "1 Depot Rd", "dea_number": dea},
        "invoice": "INV-1",
    }


def test_a_nurse_receives_wastes_and_a_physician_witnesses_through_the_api(
    staff, api_client, patient, session
):
    nurse = api_client(staff["nurse"])
    made = post(nurse, "/api/v1/inventory/products", PRODUCT)
    assert made.status_code == 201, made.content
    product_id = made.json()["id"]
    received = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id))
    assert received.status_code == 201, received.content
    assert received.json()["balance_after"] == "100.000"
    lot_id = received.json()["lot"]

    waste = post(
        nurse,
        "/api/v1/inventory/waste",
        {
            "lot": lot_id,
            "quantity": "9.3",
            "unit": "mL",
            "manner": "disposal container",
            "witness": "drchen",
            "patient": patient.pk,
            "session_ref": session,
        },
    )
    assert waste.status_code == 201, waste.content
    assert waste.json()["awaiting_witness"] is True
    wrong = post(nurse, f"/api/v1/inventory/waste/{waste.json()['id']}/witness", {"password": "x"})
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "witness_password"]
    ok = post(
        nurse, f"/api/v1/inventory/waste/{waste.json()['id']}/witness", {"password": PASSWORD}
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["awaiting_witness"] is False

    balances = nurse.get("/api/v1/inventory/balances").json()
    assert [
        (b["lot_number"], b["quantity"], b["mg"], b["sealed_containers"]) for b in balances
    ] == [("K2401", "90.700", "4535.000", 9)]
    ledger = nurse.get(f"/api/v1/inventory/ledger?product={product_id}&from=2020-01-01")
    assert ledger.status_code == 200
    assert [e["kind"] for e in ledger.json()["items"]] == ["receive", "waste"]
    assert AuditEvent.objects.filter(
        action="view", username="okafor", detail__patients=[patient.pk]
    ).exists()


def test_a_receipt_with_a_bad_dea_checksum_answers_422_naming_the_field(staff, api_client):
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    bad = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id, dea="RH1234560"))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "supplier.dea_number"]
    assert LedgerEntry.objects.count() == 0


def test_counts_compare_with_the_ledger(staff, api_client):
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    lot_id = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()["lot"]
    count = post(
        nurse,
        "/api/v1/inventory/counts",
        {"timing": "closing", "lines": [{"lot": lot_id, "counted": "99.5", "estimated": True}]},
    )
    assert count.status_code == 201, count.content
    [line] = count.json()["lines"]
    assert (line["ledger_balance"], line["discrepancy"], line["estimated"]) == (
        "100.000",
        "-0.500",
        True,
    )


def test_an_overdraw_through_the_api_is_refused(staff, api_client, patient):
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    lot_id = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()["lot"]
    over = post(
        nurse,
        "/api/v1/inventory/waste",
        {"lot": lot_id, "quantity": "100.5", "unit": "mL", "manner": "x", "witness": "drchen"},
    )
    assert over.status_code == 422
    assert over.json()["detail"][0]["loc"] == ["body", "quantity"]
    assert LedgerEntry.objects.count() == 1


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_front_desk_and_therapists_get_403_and_change_nothing(role, staff, api_client):
    client = api_client(staff[role])
    assert post(client, "/api/v1/inventory/products", PRODUCT).status_code == 403
    assert client.get("/api/v1/inventory/balances").status_code == 403
    assert client.get("/api/v1/inventory/ledger").status_code == 403
    assert Product.objects.count() == 0


def test_another_clinic_cannot_use_this_clinics_lot(staff, outsider, api_client):
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    lot_id = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()["lot"]
    other = api_client(outsider)
    stolen = post(
        other,
        "/api/v1/inventory/waste",
        {"lot": lot_id, "quantity": "1", "unit": "mL", "manner": "x", "witness": "drchen"},
    )
    assert stolen.status_code == 422
    assert other.get("/api/v1/inventory/balances").json() == []
    assert LedgerEntry.objects.count() == 1
    assert Decimal(nurse.get("/api/v1/inventory/balances").json()[0]["quantity"]) == 100


def test_a_therapist_cannot_witness_and_nothing_changes(staff, api_client, patient):
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    lot_id = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()["lot"]
    waste_id = post(
        nurse,
        "/api/v1/inventory/waste",
        {"lot": lot_id, "quantity": "1", "unit": "mL", "manner": "x", "witness": "drchen"},
    ).json()["id"]
    therapist = api_client(staff["therapist"])
    url = f"/api/v1/inventory/waste/{waste_id}/witness"
    assert post(therapist, url, {"password": PASSWORD}).status_code == 403
    # Nor can the nurse name the therapist as the witness.
    as_witness = post(nurse, url, {"username": "rivera", "password": PASSWORD})
    assert as_witness.status_code == 422
    assert as_witness.json()["detail"][0]["loc"] == ["body", "witness"]
    assert LedgerEntry.objects.get(pk=waste_id).witness_id is None


def test_destruction_adjustment_loss_and_correction_through_the_api(
    staff, api_client, patient, session
):
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    lot_id = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()["lot"]
    given = post(
        nurse,
        "/api/v1/inventory/administrations",
        {
            "lot": lot_id,
            "quantity": "7",
            "unit": "mL",
            "patient": patient.pk,
            "session_ref": session,
        },
    )
    assert given.status_code == 201 and given.json()["balance_after"] == "93.000"
    unsigned = post(
        nurse,
        "/api/v1/inventory/destructions",
        {"lot": lot_id, "quantity": "10", "manner": "denatured", "witness": "drchen"},
    )
    assert unsigned.status_code == 422
    destroyed = post(
        nurse,
        "/api/v1/inventory/destructions",
        {
            "lot": lot_id,
            "quantity": "10",
            "manner": "denatured",
            "witness": "drchen",
            "witness_password": PASSWORD,
        },
    )
    assert destroyed.status_code == 201 and destroyed.json()["balance_after"] == "83.000"
    fixed = post(
        nurse,
        f"/api/v1/inventory/entries/{given.json()['id']}/correction",
        {"reason": "7 typed for 0.7", "witness": "drchen", "witness_password": PASSWORD},
    )
    assert fixed.status_code == 201 and fixed.json()["corrects"] == given.json()["id"]
    assert fixed.json()["balance_after"] == "90.000"
    loss = post(
        nurse,
        "/api/v1/inventory/losses",
        {
            "lot": lot_id,
            "quantity": "10",
            "circumstances": "vial missing",
            "discovered_on": "2026-11-20",
        },
    )
    assert loss.status_code == 201
    assert (loss.json()["notice_due"], loss.json()["form106_due"]) == ("2026-11-23", "2027-01-04")
    filed = post(
        nurse, f"/api/v1/inventory/losses/{loss.json()['id']}/filed", {"reference": "106-1"}
    )
    assert filed.status_code == 200 and filed.json()["filed_reference"] == "106-1"
    balance = nurse.get("/api/v1/inventory/balances").json()[0]
    assert (balance["quantity"], balance["mg"]) == ("80.000", "4000.000")


def _lot(nurse):
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    return post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()


def test_an_administration_names_a_real_session_and_is_posted_once(
    staff, api_client, patient, session
):
    nurse = api_client(staff["nurse"])
    lot_id = _lot(nurse)["lot"]

    def give(ref):
        return post(
            nurse,
            "/api/v1/inventory/administrations",
            {
                "lot": lot_id,
                "quantity": "0.7",
                "unit": "mL",
                "patient": patient.pk,
                "session_ref": ref,
            },
        )

    for ref in ("anything", str(int(session) + 1)):
        made_up = give(ref)
        assert made_up.status_code == 422
        assert made_up.json()["detail"][0]["loc"] == ["body", "session_ref"]
    assert LedgerEntry.objects.count() == 1
    assert give(session).status_code == 201
    twice = give(session)
    assert twice.status_code == 422
    assert twice.json()["detail"][0]["loc"] == ["body", "session_ref"]
    assert LedgerEntry.objects.filter(kind="administer").count() == 1


def test_an_expired_lot_cannot_be_administered_through_the_api(
    staff, api_client, patient, session, clinic
):
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    refused = {**receipt_body(product_id), "expiry": str(clinic.today() - timedelta(days=1))}
    answer = post(nurse, "/api/v1/inventory/receipts", refused)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == "expiry"
    lot_id = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()["lot"]
    Lot.objects.filter(pk=lot_id).update(expiry=clinic.today() - timedelta(days=1))
    given = post(
        nurse,
        "/api/v1/inventory/administrations",
        {
            "lot": lot_id,
            "quantity": "1",
            "unit": "mL",
            "patient": patient.pk,
            "session_ref": session,
        },
    )
    assert given.status_code == 422
    assert given.json()["detail"][0]["loc"] == ["body", "lot"]
    assert "K2401" in given.json()["detail"][0]["msg"]
    assert LedgerEntry.objects.count() == 1


def test_the_ledger_treats_empty_filters_as_none_and_shows_every_recorded_field(
    staff, api_client, patient, session
):
    nurse = api_client(staff["nurse"])
    _lot(nurse)
    ledger = nurse.get("/api/v1/inventory/ledger?product=&lot=&from=&to=")
    assert ledger.status_code == 200, ledger.content
    [receipt] = ledger.json()["items"]
    assert (receipt["supplier_address"], receipt["witness_requested"]) == ("1 Depot Rd", None)
    waste = post(
        nurse,
        "/api/v1/inventory/waste",
        {
            "lot": receipt["lot"],
            "quantity": "1",
            "unit": "mL",
            "manner": "sink",
            "witness": "drchen",
        },
    )
    assert waste.json()["witness_requested"] == staff["physician"].user.pk
    # Reversed, the waste no longer awaits its witness.
    fixed = post(
        nurse,
        f"/api/v1/inventory/entries/{waste.json()['id']}/correction",
        {"reason": "wrong lot", "witness": "drchen", "witness_password": PASSWORD},
    )
    assert fixed.status_code == 201, fixed.content
    items = {e["id"]: e for e in nurse.get("/api/v1/inventory/ledger").json()["items"]}
    assert items[waste.json()["id"]]["awaiting_witness"] is False
    witnessed = post(
        nurse, f"/api/v1/inventory/waste/{waste.json()['id']}/witness", {"password": PASSWORD}
    )
    assert witnessed.status_code == 422
    assert LedgerEntry.objects.get(pk=waste.json()["id"]).witness_id is None


def test_a_waste_quantity_too_large_for_any_column_is_refused_naming_it(staff, api_client):
    # 1e308 used to answer 500 (issue 14).
    nurse = api_client(staff["nurse"])
    product_id = post(nurse, "/api/v1/inventory/products", PRODUCT).json()["id"]
    lot_id = post(nurse, "/api/v1/inventory/receipts", receipt_body(product_id)).json()["lot"]
    huge = nurse.post(
        "/api/v1/inventory/waste",
        f'{{"lot": {lot_id}, "quantity": 1e308, "unit": "mL", "manner": "x", "witness": "drchen"}}',
        content_type="application/json",
    )
    assert huge.status_code == 422
    assert huge.json()["detail"][0]["loc"] == ["body", "quantity"]
    assert LedgerEntry.objects.count() == 1
