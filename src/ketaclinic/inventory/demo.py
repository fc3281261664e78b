"""Demo data for the ledger, called by seed_demo (idempotent: skipped once the clinic has entries).

Three products at the strengths the protocols use (ketamine 50 and 100 mg/mL vials, from
which IV doses are diluted to 10 mg/mL; esketamine 28 mg devices), a zero initial
inventory, a receipt from a fictional distributor (its DEA number is made up but has a
valid check digit), a week of administrations with witnessed waste of each opened
vial's remainder, a closing count yesterday that matches the ledger, and this
morning's session whose waste still waits for its witness. Everything goes through the
ledger services, witnesses included (they confirm with the demo password).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.test import RequestFactory
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.inventory import services
from ketaclinic.inventory.models import LedgerEntry, Location, Product
from ketaclinic.inventory.rules import with_check_digit

DISTRIBUTOR = {
    "supplier_name": "Pinecrest Medical Supply (fictional)",
    "supplier_address": "400 Commerce Way, Westbrook, ME 04092",
    "supplier_dea_number": with_check_digit("RP482913"),
}
PRODUCTS = [
    # name, NDC (fictional labeler 99999), substance, unit, mg/unit, units/container, form, strength
    (
        "Ketamine 50 mg/mL, 10 mL vial",
        "99999-0501-10",
        "ketamine",
        "mL",
        "50",
        "10",
        "injection, multi-dose vial",
        "50 mg/mL",
    ),
    (
        "Ketamine 100 mg/mL, 5 mL vial",
        "99999-1001-05",
        "ketamine",
        "mL",
        "100",
        "5",
        "injection, multi-dose vial",
        "100 mg/mL",
    ),
    (
        "Esketamine 28 mg nasal spray device",
        "99999-0028-01",
        "esketamine",
        "device",
        "28",
        "1",
        "nasal spray, single-use device",
        "28 mg per device",
    ),
]


def seed(clinic, patients) -> None:  # type: ignore[no-untyped-def]
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
    if LedgerEntry.objects.filter(clinic=clinic).exists() or len(patients) < 6:
        return
    from ketaclinic.demo.management.commands.seed_demo import DEMO_PASSWORD

    members = {
        m.user.username: m
        for m in Membership.objects.select_related("user", "clinic").filter(
            clinic=clinic, user__username__in=["nurse.okafor", "dr.chen"]
        )
    }
    nurse = Actor(user=members["nurse.okafor"].user, membership=members["nurse.okafor"])
    physician = Actor(user=members["dr.chen"].user, membership=members["dr.chen"])
    request = RequestFactory().post("/inventory/")
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    tz = clinic.tz
    today = timezone.localdate(timezone=tz)

    def at(days_ago: int, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(hh, mm), tz)

    main = services.default_location(clinic)
    Location.objects.get_or_create(clinic=clinic, name="Treatment room lockbox")
    services.settings_for(clinic)
    services.record_count(
        actor=nurse,
        location=main,
        timing="opening",
        kind="initial",
        lines=[],
        counted_at=at(21, 8),
        note="Initial inventory before the first receipt: nothing on hand.",
    )
    products = {}
    for name, ndc, substance, unit, mg, size, form, strength in PRODUCTS:
        products[substance + strength] = Product.objects.filter(clinic=clinic, ndc=ndc).first() or (
            services.create_product(
                actor=nurse,
                name=name,
                ndc=ndc,
                substance=substance,
                unit=unit,
                mg_per_unit=Decimal(mg),
                units_per_container=Decimal(size),
                form=form,
                strength=strength,
            )
        )
    k50, k100, esk = (
        products["ketamine50 mg/mL"],
        products["ketamine100 mg/mL"],
        products["esketamine28 mg per device"],
    )
    received = {}
    for key, product, number, expiry, containers in [
        ("short", k50, "KX2407", today + timedelta(days=45), 6),
        ("k50", k50, "KX2511", today + timedelta(days=540), 10),
        ("k100", k100, "KH2502", today + timedelta(days=400), 5),
        ("esk", esk, "SP2503A", today + timedelta(days=300), 12),
    ]:
        received[key] = services.receive(
            actor=nurse,
            product=product,
            lot_number=number,
            expiry=expiry,
            containers=containers,
            invoice="PMS-20418",
            location=main,
            occurred_at=at(20, 10),
            **DISTRIBUTOR,
        ).lot

    # A week of sessions: each IV dose comes from a freshly opened 50 mg/mL vial of the
    # lot that expires first, and the vial's remainder is wasted and witnessed.
    sessions = [
        (6, patients[0], "short", "3.2"),
        (6, patients[1], "esk", "2"),
        (4, patients[2], "short", "0.8"),
        (4, patients[3], "esk", "3"),
        (2, patients[4], "short", "0.7"),
        (1, patients[0], "short", "3.2"),
        (1, patients[5], "esk", "2"),
    ]
    for n, (days_ago, patient, key, quantity) in enumerate(sessions, start=1):
        lot = received[key]
        ref = f"demo-{n:03d}"
        given = services.post_administration(
            actor=nurse,
            lot=lot,
            quantity=quantity,
            unit=lot.product.unit,
            patient=patient,
            session_ref=ref,
            given_at=at(days_ago, 9 + n % 4),
            location=main,
        )
        if lot.product.unit == "mL":
            waste = services.post_waste_pending_witness(
                actor=nurse,
                lot=lot,
                quantity=lot.product.units_per_container - given.quantity,
                unit="mL",
                patient=patient,
                session_ref=ref,
                manner="Remainder of opened vial into the drug-disposal container",
                witness="dr.chen",
                location=main,
                occurred_at=at(days_ago, 9 + n % 4, 20),
            )
            services.confirm_waste_witness(
                actor=nurse, entry=waste, request=request, password=DEMO_PASSWORD
            )

    # Yesterday's closing count matches the ledger.
    services.record_count(
        actor=physician,
        location=main,
        timing="closing",
        counted_at=at(1, 18),
        lines=[
            {"lot": b.lot, "counted": b.quantity, "sealed_containers": b.sealed}
            for b in services.balances(clinic)
            if b.location.pk == main.pk
        ],
    )
    # This morning's session: the remainder waits for its witness.
    morning = min(at(0, 9), timezone.now() - timedelta(minutes=30))
    lot = received["short"]
    given = services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="0.9",
        unit="mL",
        patient=patients[2],
        session_ref="demo-008",
        given_at=morning,
        location=main,
    )
    services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity=lot.product.units_per_container - given.quantity,
        unit="mL",
        patient=patients[2],
        session_ref="demo-008",
        manner="Remainder of opened vial into the drug-disposal container",
        witness="dr.chen",
        location=main,
        occurred_at=morning + timedelta(minutes=20),
    )
