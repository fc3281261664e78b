"""Demo data for the ledger, called by seed_demo (idempotent: skipped once the clinic has entries).

Three products at the strengths the protocols use (ketamine 50 and 100 mg/mL vials, from
which IV doses are diluted to 10 mg/mL; esketamine 28 mg devices), a zero initial
inventory of both storage locations and a receipt from a fictional distributor (its DEA
number is made up but has a valid check digit). The administrations are the demo's real
treatment sessions: the session demo posts each dose and its witnessed waste here, in
time order, and closes yesterday with a count (`stock_lot`, `witness_waste`,
`close_day`). Everything goes through the ledger services, witnesses included (they
confirm with the demo password).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.test import RequestFactory
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.clinical.dea import with_check_digit
from ketaclinic.inventory import services
from ketaclinic.inventory.models import CountSession, Kind, LedgerEntry, Location, Lot, Product

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


def seed(clinic, patients) -> None:
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
    if LedgerEntry.objects.filter(clinic=clinic).exists():
        return
    member = Membership.objects.select_related("user", "clinic").get(
        clinic=clinic, user__username="nurse.okafor"
    )
    nurse = Actor(user=member.user, membership=member)
    tz = clinic.tz
    today = timezone.localdate(timezone=tz)

    def at(days_ago: int, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(hh, mm), tz)

    main = services.default_location(clinic)
    lockbox, _ = Location.objects.get_or_create(clinic=clinic, name="Treatment room lockbox")
    services.settings_for(clinic)
    # The initial inventory counts every storage location (each has its own due date).
    for location in (main, lockbox):
        services.record_count(
            actor=nurse,
            location=location,
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
    # The first 50 mg/mL lot expires within 60 days: the expiring-lots report lists it.
    for product, number, expiry, containers in [
        (k50, "KX2407", today + timedelta(days=45), 6),
        (k50, "KX2511", today + timedelta(days=540), 10),
        (k100, "KH2502", today + timedelta(days=400), 5),
        (esk, "SP2503A", today + timedelta(days=300), 40),
    ]:
        services.receive(
            actor=nurse,
            product=product,
            lot_number=number,
            expiry=expiry,
            containers=containers,
            invoice="PMS-20418",
            location=main,
            occurred_at=at(20, 10),
            **DISTRIBUTOR,
        )


def stock_lot(
    clinic,
    *,
    drug: str,
    mg_per_ml: Decimal | None,
    needed_mg: Decimal,
    drawn_mg: dict[int, Decimal],
) -> Lot | None:
    """The demo lot a session draws from, as a nurse picks it: the one that expires first
    among those with `needed_mg` still in them (`drawn_mg`: what earlier doses took, by lot).
    Esketamine devices; for ketamine the vial of the session's strength (IM is given
    undiluted), else a 50 mg/mL vial diluted at the chair."""
    lots = Lot.objects.filter(clinic=clinic).select_related("product").order_by("expiry", "pk")
    if drug == "esketamine":
        candidates = [lots.filter(product__substance="esketamine")]
    else:
        ketamine = lots.filter(product__substance="ketamine")
        candidates = [ketamine.filter(product__mg_per_unit=Decimal(50))]
        if mg_per_ml is not None:
            candidates.insert(0, ketamine.filter(product__mg_per_unit=mg_per_ml))
    received = dict(
        LedgerEntry.objects.filter(clinic=clinic, kind=Kind.RECEIVE)
        .values("lot")
        .annotate(total=Sum("mg"))
        .values_list("lot", "total")
    )
    for lot in (lot for group in candidates for lot in group):
        if received.get(lot.pk, Decimal(0)) - drawn_mg.get(lot.pk, Decimal(0)) >= needed_mg:
            return lot
    return None


def witness_waste(clinic, entries) -> None:
    """Dr Chen witnesses these waste entries, confirming with her (demo) password."""
    from ketaclinic.demo.management.commands.seed_demo import DEMO_PASSWORD

    physician = Membership.objects.select_related("user", "clinic").get(
        clinic=clinic, user__username="dr.chen"
    )
    actor = Actor(user=physician.user, membership=physician)
    request = RequestFactory().post("/inventory/")
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    for entry in entries:
        services.confirm_waste_witness(
            actor=actor, entry=entry, request=request, username="dr.chen", password=DEMO_PASSWORD
        )


def close_day(clinic, day) -> None:
    """The closing count of the main safe on `day` at 18:00, matching the ledger (once)."""
    main = services.default_location(clinic)
    counted_at = datetime.combine(day, time(18), clinic.tz)
    if CountSession.objects.filter(clinic=clinic, location=main, counted_at=counted_at).exists():
        return
    physician = Membership.objects.select_related("user", "clinic").get(
        clinic=clinic, user__username="dr.chen"
    )
    services.record_count(
        actor=Actor(user=physician.user, membership=physician),
        location=main,
        timing="closing",
        counted_at=counted_at,
        lines=[
            {"lot": b.lot, "counted": b.quantity, "sealed_containers": b.sealed}
            for b in services.balances(clinic)
            if b.location.pk == main.pk
        ],
    )
