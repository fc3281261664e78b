"""A clinic set up for billing: profile, fees, payers, a covered and a self-pay patient."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.billing.models import BillingProfile, Coverage, Fee, Payer, ProviderNumber
from ketaclinic.billing.numbers import npi_with_check_digit
from ketaclinic.inventory.models import Lot, Product
from ketaclinic.patients.models import Condition
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse
from ketaclinic.treatment.models import Administration, DeviceDose, TreatmentSession

FEES = {
    "G2082": "900.00",
    "G2083": "1290.00",
    "J0013": "10.00",
    "J3490": "150.00",
    "96365": "200.00",
    "96366": "60.00",
    "96374": "90.00",
    "96372": "40.00",
    "90791": "300.00",
    "90792": "350.00",
    "90832": "90.00",
    "90834": "130.00",
    "90837": "180.00",
    "96127": "8.00",
    "99213": "110.00",
}
NPI = npi_with_check_digit("123456789")


def actor(membership) -> Actor:
    return Actor(user=membership.user, membership=membership)


@pytest.fixture
def billing(clinic, staff):
    BillingProfile.objects.create(
        clinic=clinic,
        legal_name="Harbor Light Ketamine LLC",
        npi=NPI,
        tin="12-3456789",
        taxonomy="2084P0800X",
        address_line="1 Harbor St",
        city="Portland",
        state="ME",
        zip_code="04101-1234",
        phone="207 555 0100",
    )
    ProviderNumber.objects.create(
        clinic=clinic,
        membership=staff["physician"],
        npi=npi_with_check_digit("198765432"),
        taxonomy="2084P0800X",
    )
    for code, price in FEES.items():
        Fee.objects.create(
            clinic=clinic,
            schedule="standard",
            code=code,
            price=Decimal(price),
            effective_from=date(2025, 1, 1),
        )
        Fee.objects.create(
            clinic=clinic,
            schedule="self_pay",
            code=code,
            price=Decimal(price) * Decimal("0.8"),
            effective_from=date(2025, 1, 1),
        )
    medicare = Payer.objects.create(
        clinic=clinic, name="Medicare Part B", payer_id="04412", kind="medicare"
    )
    aetna = Payer.objects.create(
        clinic=clinic,
        name="Aetna",
        payer_id="60054",
        kind="commercial",
        esketamine_companion_codes=["99213"],
    )
    return {"medicare": medicare, "commercial": aetna}


def cover(patient, payer, relationship="18"):
    return Coverage.objects.create(
        clinic=patient.clinic,
        patient=patient,
        payer=payer,
        member_id="1EG4TE5MK72",
        group_number="GRP1",
        subscriber_given_name=patient.given_name,
        subscriber_family_name=patient.family_name,
        subscriber_birth_date=patient.birth_date,
        subscriber_sex="F",
        relationship=relationship,
        address_line="12 Elm Ave",
        city="Portland",
        state="ME",
        zip_code="04101",
    )


def code(patient, icd="F33.2"):
    return Condition.objects.create(clinic=patient.clinic, patient=patient, code="mdd", icd10cm=icd)


def signed_session(
    clinic, patient, staff, *, drug, route, mg, minutes=None, when=None, ml=None, pauses=()
):
    """A nurse-signed session as the record holds it (the charting flow is tested elsewhere)."""
    when = when or timezone.now() - timedelta(hours=3)
    room = Room.objects.get_or_create(
        clinic=clinic, name="Chair 1", kind="treatment_chair", position=1
    )[0]
    course = TreatmentCourse.objects.create(
        clinic=clinic,
        patient=patient,
        protocol_code="p",
        protocol_version=1,
        family="f",
        planned_sessions=6,
        start_date=when.date(),
        status="active",
        prescriber=staff["physician"].user,
        activated_at=when,
    )
    appt = Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind="treatment",
        room=room,
        course=course,
        start=when,
        end=when + timedelta(hours=3),
        status="completed",
        staff=staff["physician"],
    )
    session = TreatmentSession.objects.create(
        clinic=clinic,
        patient=patient,
        appointment=appt,
        course=course,
        room=room,
        protocol_code="p",
        protocol_version=1,
        drug=drug,
        route=route,
        state="discharged",
        started_at=when,
        started_by=staff["nurse"].user,
        dose_started_at=when,
        dose_ended_at=when + timedelta(minutes=minutes) if minutes is not None else None,
        nurse_signed_by=staff["nurse"].user,
        nurse_signed_at=when + timedelta(hours=2),
    )
    product = Product.objects.get_or_create(
        clinic=clinic,
        ndc="12345-0050-10" if drug != "esketamine" else "50458-028-02",
        defaults=dict(
            name="Ketamine 50 mg/mL",
            substance="ketamine" if drug != "esketamine" else "esketamine",
            unit="mL",
            mg_per_unit=50,
            units_per_container=10,
        ),
    )[0]
    lot = Lot.objects.get_or_create(
        clinic=clinic, product=product, number="L1", defaults={"expiry": date(2030, 1, 1)}
    )[0]
    Administration.objects.create(
        session=session,
        drug=drug,
        product=product.name,
        lot_number="L1",
        ledger_lot=lot,
        route=route,
        dose_mg=Decimal(mg),
        total_given_mg=Decimal(mg),
        unit="mL" if drug != "esketamine" else "device",
        given=Decimal(ml) if ml is not None else None,
        recorded_by=staff["nurse"].user,
        recorded_at=when,
    )
    if drug == "esketamine":
        for n in range(int(Decimal(mg) // 28)):
            DeviceDose.objects.create(
                session=session, number=n + 1, given_at=when, mg=Decimal(28), by=staff["nurse"].user
            )
    for start, end in pauses:
        session.infusion_changes.create(
            kind="pause", at=when + timedelta(minutes=start), reason="test", by=staff["nurse"].user
        )
        session.infusion_changes.create(
            kind="resume", at=when + timedelta(minutes=end), reason="test", by=staff["nurse"].user
        )
    return appt
