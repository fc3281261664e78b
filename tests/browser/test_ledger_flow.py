"""A day at the safe: receive ten vials, three doses, witnessed waste, a closing count.

Treatment sessions do not exist yet, so the doses are recorded on the ledger's
Administer page (the same `post_administration` the sessions will call).
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from ketaclinic.demo.management.commands.seed_demo import DEMO_PASSWORD
from ketaclinic.inventory import services
from ketaclinic.inventory.models import Kind, LedgerEntry, Lot
from ketaclinic.inventory.rules import with_check_digit
from ketaclinic.patients.models import Patient
from tests.browser.conftest import log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRODUCT = "Ketamine 50 mg/mL, 10 mL vial"
DOSES = [("0.7", "35"), ("0.84", "42"), ("0.57", "28.5")]  # mL given, mg


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))


def lot_label(lot: Lot) -> str:
    return f"{lot.product.name} · lot {lot.number} · exp {lot.expiry:%Y-%m-%d}"


def test_a_days_ledger_balances_to_the_milligram_in_the_browser(page, demo):
    patients = list(Patient.objects.filter(clinic__slug="harbor").order_by("mrn")[10:13])
    log_in(page, "nurse.okafor", DEMO_PASSWORD)
    page.wait_for_url("**/patients/")
    page.get_by_role("link", name="Controlled substances").click()
    page.wait_for_url("**/inventory/")

    # Receive ten vials.
    page.get_by_role("navigation", name="Controlled substances").get_by_role(
        "link", name="Receive"
    ).click()
    page.get_by_label("Product").select_option(label=PRODUCT)
    page.get_by_label("Lot number").fill("BT-0001")
    page.get_by_label("Expiry").fill("2027-08-31")
    page.get_by_label("Containers").fill("10")
    page.get_by_label("Supplier name").fill("Pinecrest Medical Supply (fictional)")
    page.get_by_label("Supplier address").fill("400 Commerce Way, Westbrook, ME 04092")
    page.get_by_label("Supplier DEA number").fill("RP4829130")  # wrong check digit
    page.get_by_role("button", name="Record receipt").click()
    expect(page.get_by_text("check digit is wrong")).to_be_visible()
    snap(page, "ledger-receive")
    page.get_by_label("Supplier DEA number").fill(with_check_digit("RP482913"))
    page.get_by_role("button", name="Record receipt").click()
    page.wait_for_url("**/inventory/balances/")
    expect(page.get_by_text("Balance 100 mL")).to_be_visible()
    lot = Lot.objects.get(number="BT-0001")

    # Three patients get their doses from three vials; each remainder is wasted.
    for n, (patient, (ml, mg)) in enumerate(zip(patients, DOSES, strict=True), start=1):
        page.goto("/inventory/administer/")
        page.locator("#id_lot").select_option(label=lot_label(lot))
        page.get_by_label("Quantity").fill(ml)
        page.get_by_label("Patient MRN").fill(patient.mrn)
        page.get_by_label("Treatment session").fill(f"bt-{n}")
        page.get_by_role("button", name="Record administration").click()
        page.wait_for_url("**/inventory/")
        expect(page.get_by_text(f"({mg} mg)")).to_be_visible()

        page.goto("/inventory/waste/")
        page.locator("#id_lot").select_option(label=lot_label(lot))
        page.get_by_label("Quantity").fill(str(Decimal("10") - Decimal(ml)))
        page.get_by_label("Patient MRN").fill(patient.mrn)
        page.get_by_label("Treatment session").fill(f"bt-{n}")
        page.get_by_label("Witness username").fill("dr.chen")
        if n < 3:
            # The witness types their own password on the same tablet, at once.
            page.get_by_label("Witness's own password").fill(DEMO_PASSWORD)
            snap(page, "ledger-waste")
            page.get_by_role("button", name="Record waste").click()
            page.wait_for_url("**/inventory/")
        else:
            # Or later: the waste stays flagged until the witness confirms.
            page.get_by_role("button", name="Record waste").click()
            page.wait_for_url("**/inventory/waste/unwitnessed/")
            snap(page, "ledger-unwitnessed")
            waste = LedgerEntry.objects.get(session_ref="bt-3", kind=Kind.WASTE)
            page.get_by_role("link", name=f"Witness #{waste.pk}").click()
            page.get_by_label("Witness's own password").fill("not-my-password")
            page.get_by_role("button", name="Confirm as witness").click()
            expect(page.get_by_text("Wrong password for this witness.")).to_be_visible()
            snap(page, "ledger-witness")
            page.get_by_label("Witness's own password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Confirm as witness").click()
            page.wait_for_url("**/inventory/waste/unwitnessed/")
            assert page.get_by_role("link", name=f"Witness #{waste.pk}").count() == 0

    # End of day: count the safe (the counter finds what the ledger says for every lot).
    page.goto("/inventory/counts/new/")
    page.get_by_label("Close of business").check()
    main = services.default_location(lot.clinic)
    for b in services.balances(lot.clinic):
        if b.location.pk == main.pk:
            page.get_by_label(f"Counted, lot {b.lot.number}").fill(f"{b.quantity.normalize():f}")
    page.get_by_label("Sealed containers, lot BT-0001").fill("7")
    page.get_by_role("button", name="Record count").click()
    page.wait_for_url("**/inventory/counts/*/")
    expect(page.get_by_text("The count matches the ledger")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="lot BT-0001")
    expect(row).to_contain_text("70 mL")
    snap(page, "ledger-count")

    # The ledger, filtered to the lot, balances to the milligram.
    page.goto(f"/inventory/?lot={lot.pk}")
    snap(page, "ledger-lot")
    entries = list(LedgerEntry.objects.filter(lot=lot).order_by("id"))
    assert [e.kind for e in entries] == ["receive"] + ["administer", "waste"] * 3
    assert sum(e.mg for e in entries if e.delta < 0) == Decimal("1500")
    assert entries[-1].balance_after == Decimal("70")
    assert all(e.witness_id for e in entries if e.kind == "waste")
    newest = page.get_by_role("row").filter(has_text="bt-3").first
    expect(newest).to_contain_text("70 mL")
    page.goto("/inventory/balances/")
    bt = page.get_by_role("row").filter(has_text="BT-0001")
    expect(bt).to_contain_text("70 mL")
    expect(bt).to_contain_text("3500 mg")
    snap(page, "ledger-balances")

    # The inspector's report for the day: every administration, by whom, to whom.
    page.get_by_role("button", name="Log out").click()
    log_in(page, "admin", DEMO_PASSWORD)
    page.goto("/inventory/reports/")
    today = timezone.localdate(timezone=lot.clinic.tz)
    page.get_by_label("Report").select_option("administrations")
    page.locator("#id_lot").select_option(label=lot_label(lot))
    page.get_by_label("From", exact=True).fill(f"{today:%Y-%m-%d}")
    page.get_by_label("To", exact=True).fill(f"{today:%Y-%m-%d}")
    page.get_by_label("Format").select_option("csv")
    snap(page, "ledger-reports")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    with open(download.value.path(), newline="") as handle:
        rows = list(csv.reader(handle))
    assert [(r[1], r[5], r[6], r[7]) for r in rows[1:]] == [
        (p.mrn, f"{ml} mL", mg, "Grace Okafor (nurse.okafor)")
        for p, (ml, mg) in zip(patients, DOSES, strict=True)
    ]
    assert isinstance(today, date)
