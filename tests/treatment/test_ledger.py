"""The dose and its waste reach the controlled-substance ledger in the stock product's unit."""

from __future__ import annotations

import json
from decimal import Decimal

from ketaclinic.inventory.models import LedgerEntry

from .conftest import clear_to_dose, stock_lot


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def test_dose_and_waste_are_posted_in_stock_millilitres(staff, api_client, iv_appointment):
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    lot = stock_lot(staff["nurse"], "ketamine", "K2401")
    body = post(nurse, f"/api/v1/appointments/{iv_appointment.pk}/session").json()
    body = clear_to_dose(nurse, physician, body)
    body = post(
        nurse,
        f"/api/v1/sessions/{body['id']}/dosing",
        {"product": "Ketamine 10 mg/mL", "ledger_lot_id": lot.pk, "version": body["version"]},
    ).json()
    assert body["administration"]["lot_number"] == "K2401"
    ended = post(
        nurse,
        f"/api/v1/sessions/{body['id']}/dosing/end",
        {
            "drawn": 4,
            "given": 3.5,
            "left_over": 0.5,
            "waste_manner": "drug-disposal container",
            "version": body["version"],
        },
    )
    assert ended.status_code == 200, ended.content
    assert ended.json()["administration"]["posted_to_ledger"] is True
    entries = {e.kind: e for e in LedgerEntry.objects.filter(session_ref=str(body["id"]))}
    assert entries["administer"].quantity == Decimal("0.700")  # 35 mg of 50 mg/mL
    assert entries["waste"].quantity == Decimal("0.100")  # 0.5 mL of 10 mg/mL = 5 mg


def test_a_lot_of_the_wrong_substance_is_refused(staff, api_client, iv_appointment):
    lot = stock_lot(staff["nurse"], "esketamine", "E1", containers=4)
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    body = post(nurse, f"/api/v1/appointments/{iv_appointment.pk}/session").json()
    body = clear_to_dose(nurse, physician, body)
    response = post(
        nurse,
        f"/api/v1/sessions/{body['id']}/dosing",
        {"product": "Ketamine", "ledger_lot_id": lot.pk, "version": body["version"]},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "ledger_lot_id"]
