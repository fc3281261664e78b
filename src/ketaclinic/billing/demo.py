"""Demo billing: a profile with a valid (fictitious) NPI, fees, two payers, coverage, charges
for every signed visit, some approved and claimed, payments. Idempotent.

The clinic bills here from its current patients' first visit on: the outcomes demo's
archive before that day was billed in its previous system (the profile's `bills_from`).

The fees are the demo clinic's own invented prices, not published rates (fees are never
built in). Esketamine patients are covered (Medicare from 65, else the commercial plan);
IV and IM ketamine patients are self-pay and get superbills.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.billing import services
from ketaclinic.billing.models import (
    BillingProfile,
    Charge,
    Coverage,
    Fee,
    Payer,
    ProviderNumber,
)
from ketaclinic.billing.numbers import npi_with_check_digit
from ketaclinic.scheduling.demo import first_visit_day
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.models import TreatmentSession

DEMO_FEES = {
    # code: (description, standard, self-pay) - the demo clinic's own prices
    "G2082": ("Esketamine visit, up to 56 mg", "950.00", "900.00"),
    "G2083": ("Esketamine visit, over 56 mg", "1350.00", "1300.00"),
    "J0013": ("Esketamine nasal spray, 1 mg", "14.00", "12.00"),
    "J3490": ("Ketamine HCl (unclassified drug)", "60.00", "40.00"),
    "96365": ("IV infusion, first hour", "380.00", "350.00"),
    "96366": ("IV infusion, each added hour", "90.00", "80.00"),
    "96374": ("IV push", "150.00", "140.00"),
    "96372": ("IM injection", "60.00", "50.00"),
    "90791": ("Psychiatric diagnostic evaluation", "360.00", "320.00"),
    "90792": ("Psychiatric diagnostic evaluation, medical", "420.00", "380.00"),
    "90832": ("Psychotherapy, 30 min", "95.00", "85.00"),
    "90834": ("Psychotherapy, 45 min", "140.00", "125.00"),
    "90837": ("Psychotherapy, 60 min", "190.00", "170.00"),
    "96127": ("Brief standardized assessment", "10.00", "8.00"),
    "99213": ("Established patient E/M, low", "120.00", "110.00"),
}


def _actor(clinic: Any, role: str) -> Actor | None:
    member = (
        Membership.objects.select_related("user", "clinic")
        .filter(clinic=clinic, role=role, is_active=True)
        .order_by("pk")
        .first()
    )
    return Actor(user=member.user, membership=member) if member else None


def _refresh_unreviewed(appointment: Appointment) -> None:
    """Lines proposed before the clinic's fees and coverage existed: propose them again."""
    lines = Charge.objects.filter(appointment=appointment)
    if lines.exclude(status="proposed").exists() or lines.filter(changes__isnull=False).exists():
        return
    lines.delete()
    services.propose_for_appointment(appointment)


def seed(clinic: Any, patients: list[Any]) -> None:
    if not BillingProfile.objects.filter(clinic=clinic).exists():
        _seed_billing(clinic, patients)
    _review_portal_visits(clinic, patients)


@transaction.atomic
def _review_portal_visits(clinic: Any, patients: list[Any]) -> None:
    """The demo's portal patients have their visits reviewed, so a superbill is in the portal.

    A portal account signs in with the patient's e-mail address as a patient-role member
    (billing never reads the portal's own tables).
    """
    biller = _actor(clinic, "biller") or _actor(clinic, "admin")
    emails = set(
        Membership.objects.filter(clinic=clinic, role="patient", is_active=True).values_list(
            "user__email", flat=True
        )
    )
    portal_ids = [p.pk for p in patients if p.email and p.email.lower() in emails]
    if biller is None or not portal_ids:
        return
    for line in Charge.objects.filter(clinic=clinic, patient_id__in=portal_ids, status="proposed"):
        if not line.problems:
            services.approve_charge(actor=biller, charge=line)


@transaction.atomic
def _seed_billing(clinic: Any, patients: list[Any]) -> None:
    biller = _actor(clinic, "biller") or _actor(clinic, "admin")
    desk = _actor(clinic, "front_desk") or biller
    if biller is None or desk is None:
        return
    bills_from = first_visit_day(clinic, patients)
    BillingProfile.objects.create(
        clinic=clinic,
        legal_name="Harbor Light Ketamine Clinic LLC",
        npi=npi_with_check_digit("199999999"),
        tin="99-1234567",
        taxonomy="2084P0800X",
        address_line="100 Harbor St Suite 2",
        city="Portland",
        state="ME",
        zip_code="04101-4012",
        phone="207 555 0100",
        bills_from=bills_from,
    )
    for n, member in enumerate(
        Membership.objects.filter(clinic=clinic, role__in=["physician", "therapist"]).order_by(
            "pk"
        ),
        start=1,
    ):
        ProviderNumber.objects.get_or_create(
            membership=member,
            defaults={
                "clinic": clinic,
                "npi": npi_with_check_digit(f"19888800{n}"),
                "taxonomy": "2084P0800X" if member.role == "physician" else "101YP2500X",
            },
        )
    for code, (text, standard, self_pay_price) in DEMO_FEES.items():
        for schedule, price in (("standard", standard), ("self_pay", self_pay_price)):
            Fee.objects.create(
                clinic=clinic,
                schedule=schedule,
                code=code,
                description=text,
                price=Decimal(price),
                effective_from=date(2025, 1, 1),
            )
    medicare = Payer.objects.create(
        clinic=clinic, name="Medicare Part B (demo)", payer_id="MCRDEMO", kind="medicare"
    )
    plan = Payer.objects.create(
        clinic=clinic,
        name="Harborview Health Plan (demo)",
        payer_id="HHPDEMO",
        kind="commercial",
        esketamine_companion_codes=["99213"],
    )
    esk_patients = set(
        TreatmentSession.objects.filter(clinic=clinic, drug="esketamine").values_list(
            "patient_id", flat=True
        )
    )
    today = clinic.today()
    for i, patient in enumerate(p for p in patients if p.pk in esk_patients):
        age = (today - patient.birth_date).days // 365
        Coverage.objects.create(
            clinic=clinic,
            patient=patient,
            payer=medicare if age >= 65 and i % 2 == 0 else plan,
            member_id=f"DEMO{patient.pk:07d}",
            group_number="HL-2026" if i % 2 else "",
            subscriber_given_name=patient.given_name,
            subscriber_family_name=patient.family_name,
            subscriber_birth_date=patient.birth_date,
            subscriber_sex={"female": "F", "male": "M"}.get(patient.sex_at_birth, "U"),
            relationship="18",
            address_line=f"{10 + i} Elm Ave",
            city="Portland",
            state="ME",
            zip_code="04101",
        )
    # Every signed visit gets its lines (treatment sessions, progress notes, consultations).
    billed_here = Appointment.objects.filter(
        clinic=clinic, start__gte=datetime.combine(bills_from, time.min, tzinfo=clinic.tz)
    )
    for appointment in billed_here.order_by("start"):
        if services.is_signed_visit(appointment):
            _refresh_unreviewed(appointment)
    # Visits older than three days are reviewed and approved; newer ones wait for review.
    cutoff = today - timedelta(days=3)
    for line in Charge.objects.filter(clinic=clinic, status="proposed", service_date__lt=cutoff):
        if not line.problems:
            services.approve_charge(actor=biller, charge=line)
    # Claims for covered visits: most sent and accepted, the oldest paid.
    by_visit: dict[int, list[int]] = {}
    for line in Charge.objects.filter(clinic=clinic, status="approved", coverage__isnull=False):
        by_visit.setdefault(line.appointment_id, []).append(line.pk)
    for n, ids in enumerate(by_visit.values()):
        claim = services.create_claim(actor=biller, charge_ids=ids)
        if n % 3 == 2:
            continue  # left as a draft
        services.set_claim_status(actor=biller, claim=claim, status="ready")
        services.set_claim_status(actor=biller, claim=claim, status="sent")
        services.set_claim_status(
            actor=biller, claim=claim, status="accepted", payer_claim_number=f"PCN{claim.pk:06d}"
        )
        if n % 3 == 0:
            paid = (claim.total * Decimal("0.8")).quantize(Decimal("0.01"))
            services.record_payment(
                actor=biller,
                patient=claim.patient,
                amount=paid,
                source="payer",
                payer=claim.coverage.payer,
                method="eft",
                reference=f"PCN{claim.pk:06d}",
                charge_ids=ids,
                claim=claim,
                adjustment=claim.total - paid,
            )
            services.set_claim_status(actor=biller, claim=claim, status="paid")
    # Self-pay patients paid part of what they owe at the front desk.
    self_pay_patients = (
        Charge.objects.filter(clinic=clinic, status="approved", coverage__isnull=True)
        .values_list("patient_id", flat=True)
        .distinct()
    )
    for n, patient_id in enumerate(sorted(set(self_pay_patients))):
        if n % 2:
            continue
        owed = services.balance_of(clinic, patient_id).balance
        patient = next((p for p in patients if p.pk == patient_id), None)
        if patient is not None and owed > 0:
            services.record_payment(
                actor=desk,
                patient=patient,
                amount=(owed / 2).quantize(Decimal("0.01")),
                method="card",
            )
