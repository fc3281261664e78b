"""A ledger with one product: ketamine 50 mg/mL in 10 mL vials, and a receipt of ten vials.

Doses are given in real treatment sessions (`session`, or `new_session()` for more).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import RequestFactory
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.services import add_staff
from ketaclinic.clinical.dea import with_check_digit
from ketaclinic.inventory import services
from ketaclinic.scheduling.models import TreatmentCourse
from tests import builders
from tests.conftest import PASSWORD

DEA = with_check_digit("RH123456")  # fictional distributor, valid check digit


def actor(membership) -> Actor:
    return Actor(user=membership.user, membership=membership, ip="127.0.0.1")


def witness_request():
    """A request as the co-signing tablet sends it (axes needs the address)."""
    request = RequestFactory().post("/inventory/")
    request.META["REMOTE_ADDR"] = "10.0.0.7"
    return request


@pytest.fixture
def nurse(staff):
    return actor(staff["nurse"])


@pytest.fixture
def physician(staff):
    return actor(staff["physician"])


@pytest.fixture
def second_nurse(clinic):
    return add_staff(username="patel", clinic=clinic, role="nurse", password=PASSWORD)


@pytest.fixture
def vial(clinic, nurse):
    return services.create_product(
        actor=nurse,
        name="Ketamine 50 mg/mL, 10 mL vial",
        ndc="12345-0050-10",
        substance="ketamine",
        unit="mL",
        mg_per_unit=Decimal("50"),
        units_per_container=Decimal("10"),
        form="injection, multi-dose vial",
        strength="50 mg/mL",
    )


@pytest.fixture
def device(clinic, nurse):
    return services.create_product(
        actor=nurse,
        name="Esketamine 28 mg nasal spray device",
        ndc="12345-0028-01",
        substance="esketamine",
        unit="device",
        mg_per_unit=Decimal("28"),
        units_per_container=Decimal("1"),
    )


@pytest.fixture
def receipt(vial, nurse):
    return services.receive(
        actor=nurse,
        product=vial,
        lot_number="K2401",
        expiry=date(2027, 6, 30),
        containers=10,
        supplier_name="Northeast Medical Distribution",
        supplier_address="1 Depot Road, Augusta, ME 04330",
        supplier_dea_number=DEA,
        invoice="INV-1001",
    )


@pytest.fixture
def lot(receipt):
    return receipt.lot


def make_session(patient, by):
    """A real treatment session of `patient` (on its own appointment), as the ledger names one."""
    course = TreatmentCourse.objects.filter(patient=patient).first() or builders.course(
        patient.clinic, patient, by, start_date=date(2026, 11, 1)
    )
    visit = builders.appointment(patient.clinic, patient, course, builders.chair(patient.clinic))
    return builders.session(visit, by, drug="ketamine", state="dosing", started_at=timezone.now())


@pytest.fixture
def new_session(patient, staff):
    """Make another real treatment session (of `patient` unless told); returns its ledger ref."""

    def make(for_patient=None) -> str:
        return str(make_session(for_patient or patient, staff["nurse"].user).pk)

    return make


@pytest.fixture
def session(new_session) -> str:
    """The ledger reference (the id) of a real treatment session of `patient`."""
    return new_session()
