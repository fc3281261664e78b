"""The dose and its waste reach the controlled-substance ledger in the stock product's unit."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from ketaclinic.inventory import services as inventory
from ketaclinic.inventory.models import LedgerEntry
from tests.inventory.conftest import DEA

from .conftest import actor, clear_to_dose


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def test_dose_and_waste_are_posted_in_stock_millilitres(staff, api_client, iv_appointment):
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    vial = inventory.create_product(
        actor=actor(staff["nurse"]),
        name="Ketamine 50 mg/mL, 10 mL vial",
        ndc="12345-0050-10",
        substance="ketamine",
        unit="mL",
        mg_per_unit=Decimal("50"),
        units_per_container=Decimal("10"),
    )
    lot = inventory.receive(
        actor=actor(staff["nurse"]),
        product=vial,
        lot_number="K2401",
        expiry=date(2030, 6, 30),
        containers=2,
        supplier_name="Northeast Medical",
        supplier_address="1 Depot Road",
        supplier_dea_number=DEA,
    ).lot
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
    device = inventory.create_product(
        actor=actor(staff["nurse"]),
        name="Esketamine 28 mg device",
        ndc="12345-0028-01",
        substance="esketamine",
        unit="device",
        mg_per_unit=Decimal("28"),
        units_per_container=Decimal("1"),
    )
    lot = inventory.receive(
        actor=actor(staff["nurse"]),
        product=device,
        lot_number="E1",
        expiry=date(2030, 1, 1),
        containers=4,
        supplier_name="X",
        supplier_address="Y",
        supplier_dea_number=DEA,
    ).lot
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
