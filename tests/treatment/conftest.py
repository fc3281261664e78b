"""A checked-in IV patient and a checked-in esketamine patient, each on an active course."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Room
from ketaclinic.treatment import checklist as checklist_module
from ketaclinic.treatment import services
from tests import builders

actor = builders.actor


def clinic_today():
    """The demo clinic's date (New York): from midnight UTC the server's date is its tomorrow."""
    from ketaclinic.accounts.models import Clinic

    return Clinic.objects.get(slug="harbor").today()


# The two stock products sessions draw from: a 50 mg/mL ketamine vial, a 28 mg device.
STOCK = {
    "ketamine": dict(
        name="Ketamine 50 mg/mL, 10 mL vial",
        ndc="12345-0050-10",
        unit="mL",
        mg_per_unit=Decimal("50"),
        units_per_container=Decimal("10"),
    ),
    "esketamine": dict(
        name="Spravato 28 mg device",
        ndc="50458-028-02",
        unit="device",
        mg_per_unit=Decimal("28"),
        units_per_container=Decimal("1"),
    ),
}


def stock_lot(membership, substance, number, *, expiry=date(2030, 6, 30), containers=2):
    """Receive `containers` of the substance's stock product as lot `number`."""
    from ketaclinic.inventory import services as inventory
    from ketaclinic.inventory.models import Product
    from tests.inventory.conftest import DEA

    by = actor(membership)
    product = Product.objects.filter(
        clinic=membership.clinic, ndc=STOCK[substance]["ndc"]
    ).first() or inventory.create_product(actor=by, substance=substance, **STOCK[substance])
    lot = inventory.receive(
        actor=by,
        product=product,
        lot_number=number,
        expiry=max(expiry, date(2030, 6, 30)),
        containers=containers,
        supplier_name="Northeast Medical",
        supplier_address="1 Depot Road",
        supplier_dea_number=DEA,
    ).lot
    if lot.expiry != expiry:  # received in date, expired since (expired stock is refused)
        type(lot).objects.filter(pk=lot.pk).update(expiry=expiry)
        lot.refresh_from_db()
    return lot


@pytest.fixture(autouse=True)
def gate_open(monkeypatch):
    """Consent, eligibility and REMS are in place unless a test says otherwise."""
    monkeypatch.setattr(checklist_module.gates, "missing_items", lambda **kw: [])


@pytest.fixture
def chairs(clinic):
    return [
        Room.objects.create(clinic=clinic, name=f"Chair {i}", kind="treatment_chair", position=i)
        for i in (1, 2)
    ]


def make_course(clinic, patient, physician, code, family, **dose):
    """An active course activated now, with its first dose order (tests/builders.py)."""
    return builders.course(
        clinic,
        patient,
        physician.user,
        protocol_code=code,
        family=family,
        activated_at=timezone.now(),
        **dose,
    )


def make_appointment(clinic, patient, course, room, status="checked_in"):
    """A treatment appointment from five minutes ago, for two hours (tests/builders.py)."""
    return builders.appointment(clinic, patient, course, room, status=status)


@pytest.fixture
def iv_appointment(clinic, staff, patient, chairs):
    patient.weight_measured_on = clinic.today()
    patient.save()
    course = make_course(
        clinic,
        patient,
        staff["physician"],
        "ketamine-iv-mood",
        "ketamine-iv-mood",
        dose_mg_per_kg=Decimal("0.5"),
        weight_basis="actual",
    )
    return make_appointment(clinic, patient, course, chairs[0])


@pytest.fixture
def esk_patient(clinic):
    return Patient.objects.create(
        clinic=clinic,
        mrn="MRN000002",
        given_name="Tom",
        family_name="Berg",
        birth_date=clinic.today().replace(year=1960),
        sex_at_birth="male",
        weight_kg=80,
        height_cm=180,
        weight_measured_on=clinic.today(),
    )


@pytest.fixture
def esk_appointment(clinic, staff, esk_patient, chairs):
    course = make_course(
        clinic,
        esk_patient,
        staff["physician"],
        "esketamine-nasal",
        "esketamine-nasal",
        dose_mg=Decimal("56"),
    )
    return make_appointment(clinic, esk_patient, course, chairs[1])


def fasted(item_id):
    """What a patient who fasted as told reports at the fasting item (nothing for the others)."""
    return {"hours_since_food": 3, "hours_since_liquids": 1} if item_id == "fasting" else {}


def tick_manual_items(session, nurse):
    """The nurse confirms every item the system does not check itself."""
    for row in session.checklist.filter(automatic=False):
        session.refresh_from_db()
        services.check_item(
            actor=actor(nurse),
            session=session,
            item_id=row.item_id,
            met=True,
            expected_version=session.version,
            **fasted(row.item_id),
        )
    session.refresh_from_db()


def questionnaire_today(clinic, patient):
    from ketaclinic.measures.models import Response

    Response.objects.create(
        clinic=clinic,
        patient=patient,
        instrument="phq9",
        version=1,
        answers={},
        total=10,
        taken_at=timezone.now(),
    )


def api_post(client, url, body=None):
    import json

    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def clear_to_dose(nurse, physician, body, reason="test"):
    """The nurse confirms the items she checks; the physician overrides the failed hard stops.

    Only a failed item can be overridden, so nothing is left unchecked first.
    """
    for row in body["checklist"]:
        if not row["automatic"] and row["status"] == "pending":
            body = api_post(
                nurse,
                f"/api/v1/sessions/{body['id']}/checklist/{row['item']}",
                {"met": True, "version": body["version"], **fasted(row["item"])},
            ).json()
    for row in body["checklist"]:
        if row["blocks"]:
            response = api_post(
                physician,
                f"/api/v1/sessions/{body['id']}/checklist/{row['item']}/override",
                {"reason": reason, "version": body["version"]},
            )
            assert response.status_code == 200, response.content
            body = response.json()
    return body


def pdf_text(content: bytes) -> str:
    """The text a ReportLab PDF draws (its page streams decoded; one line per text line)."""
    import base64
    import re
    import zlib

    lines = []
    for match in re.finditer(
        rb"/Filter \[ /ASCII85Decode /FlateDecode \][^>]*>>\s*stream\r?\n(.*?)endstream",
        content,
        re.S,
    ):
        stream = zlib.decompress(base64.a85decode(match.group(1).strip(), adobe=True))
        for text_line in re.split(rb"T\*|ET", stream):
            parts = re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", text_line)
            if parts:
                lines.append(b"".join(parts))
    raw = b"\n".join(lines)
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw)
    raw = re.sub(rb"\\(.)", rb"\1", raw)
    return raw.decode("cp1252", errors="replace")
