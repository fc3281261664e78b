"""A day at the safe: ten vials in, three patients dosed through real treatment sessions,
their left-overs wasted with a witness, a closing count, and the inspector's reports.

The doses reach the ledger the way they do on the floor: the nurse starts each session
from the chair board, works through the checklist, starts the infusion from the
received lot and stops it with what was drawn, given and left over. The session posts
the `administer` entry and a `waste` entry that waits for its witness.
"""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from ketaclinic.clinical.dea import with_check_digit
from ketaclinic.inventory import services
from ketaclinic.inventory.models import Kind, LedgerEntry, Lot
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Room
from ketaclinic.screening import gates
from ketaclinic.treatment.models import TreatmentSession
from tests.browser.conftest import landed, log_in, log_out, snap
from tests.browser.test_session_flow import confirm_checklist, save_vitals, submit
from tests.conftest import PASSWORD
from tests.inventory.conftest import actor
from tests.treatment.conftest import make_appointment, make_course, questionnaire_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRODUCT = "Ketamine 50 mg/mL, 10 mL vial"
LOT = "BT-0001"
# 0.5 mg/kg on actual weight, diluted to 10 mg/mL in the syringe: (kg, drawn, given, left) mL.
PATIENTS = [
    ("Maria Garcia", 70, "4", "3.5", "0.5"),  # 35 mg given, 5 mg wasted
    ("Ana Silva", 84, "5", "4.2", "0.8"),  # 42 mg given, 8 mg wasted
    ("Ben Ito", 57, "3", "2.85", "0.15"),  # 28.5 mg given, 1.5 mg wasted
]
# In stock millilitres of 50 mg/mL: (given, wasted).
STOCK = [("0.7", "0.1"), ("0.84", "0.16"), ("0.57", "0.03")]


@pytest.fixture
def day(monkeypatch, clinic, staff, patient):
    """Three checked-in IV patients on active courses, and the clinic's vial product."""
    # Consent, eligibility and REMS are in place (the screening gates report nothing missing).
    for name in ("missing_for_course", "missing_items"):
        monkeypatch.setattr(gates, name, lambda **kw: [], raising=False)
    services.create_product(
        actor=actor(staff["nurse"]),
        name=PRODUCT,
        ndc="12345-0050-10",
        substance="ketamine",
        unit="mL",
        mg_per_unit=Decimal("50"),
        units_per_container=Decimal("10"),
        strength="50 mg/mL",
    )
    patients = []
    for i, (name, kg, *_) in enumerate(PATIENTS, start=1):
        given, family = name.split()
        if i == 1:
            found = patient
        else:
            found = Patient.objects.create(
                clinic=clinic,
                mrn=f"MRN00000{i}",
                given_name=given,
                family_name=family,
                birth_date=patient.birth_date,
                sex_at_birth="male",
                height_cm=175,
                address=f"{i} Harbor Street, Portland, ME 04101",
            )
        found.weight_kg = kg
        found.weight_measured_on = clinic.today()
        found.save()
        room = Room.objects.create(
            clinic=clinic, name=f"Chair {i}", kind="treatment_chair", position=i
        )
        course = make_course(
            clinic,
            found,
            staff["physician"],
            "ketamine-iv-mood",
            "ketamine-iv-mood",
            dose_mg_per_kg=Decimal("0.5"),
            weight_basis="actual",
        )
        questionnaire_today(clinic, found)
        make_appointment(clinic, found, course, room)
        patients.append(found)
    return patients


def run_session(page, name: str, drawn: str, given: str, left: str, lot: Lot) -> int:
    """Start the patient's session from the board and dose them from the ledger lot."""
    page.goto("/treatment/board/")
    card = page.locator(".waiting li").filter(has_text=name)
    with page.expect_navigation(url="**/treatment/sessions/*/"):
        card.get_by_role("button", name="Start session").click()
    session_id = TreatmentSession.objects.get(patient__given_name=name.split()[0]).pk
    confirm_checklist(page)
    save_vitals(page, 126, 80)
    expect(page.locator("#checklist")).not_to_contain_text("Dosing is blocked")
    dose = page.locator("#dose form")
    dose.get_by_label("Stock lot (controlled-substance ledger)").select_option(
        label=f"{PRODUCT} · lot {LOT} · exp {lot.expiry:%b %Y}"
    )
    submit(page, dose.get_by_role("button", name="Start infusion"))
    expect(page.locator(".state-badge")).to_contain_text("Dosing")
    expect(page.locator("#dose")).to_contain_text(f"lot {LOT}")
    end = page.locator("#dose form").last
    end.get_by_label("Drawn (mL)").fill(drawn)
    end.get_by_label("Given (mL)").fill(given)
    end.get_by_label("Left over (mL)").fill(left)
    end.get_by_label("How the left-over was wasted").fill("into the drug-disposal container")
    submit(page, end.get_by_role("button", name="Stop infusion: start monitoring"))
    expect(page.locator(".state-badge")).to_contain_text("Monitoring")
    return session_id


def download_csv(page, report: str, lot: Lot, day) -> list[list[str]]:  # type: ignore[no-untyped-def]
    page.goto("/inventory/reports/")
    page.get_by_label("Report").select_option(report)
    page.locator("#id_lot").select_option(
        label=f"{PRODUCT} · lot {LOT} · exp {lot.expiry:%Y-%m-%d}"
    )
    page.get_by_label("From", exact=True).fill(f"{day:%Y-%m-%d}")
    page.get_by_label("To", exact=True).fill(f"{day:%Y-%m-%d}")
    page.get_by_label("Format").select_option("csv")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    with open(download.value.path(), newline="") as handle:
        return list(csv.reader(handle))


def test_a_days_ledger_balances_to_the_milligram_through_real_sessions(page, day, clinic):
    patients = day
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.get_by_role("link", name="Drug ledger").click()
    page.wait_for_url("**/inventory/")

    # Receive ten vials; a mistyped DEA number is caught first.
    page.get_by_role("navigation", name="Controlled substances").get_by_role(
        "link", name="Receive"
    ).click()
    page.wait_for_url("**/inventory/receive/")
    page.get_by_label("Product").select_option(label=PRODUCT)
    page.get_by_label("Lot number").fill(LOT)
    page.get_by_label("Expiry").fill("2027-08-31")
    page.get_by_label("Containers").fill("10")
    page.get_by_label("Supplier name").fill("Pinecrest Medical Supply (fictional)")
    page.get_by_label("Supplier address").fill("400 Commerce Way, Westbrook, ME 04092")
    page.get_by_label("Supplier DEA number").fill("RP4829130")  # wrong check digit
    page.get_by_label("Invoice / packing slip").fill("PMS-7781")
    page.get_by_role("button", name="Record receipt").click()
    expect(page.get_by_text("check digit is wrong")).to_be_visible()
    snap(page, "ledger-receive")
    page.get_by_label("Supplier DEA number").fill(with_check_digit("RP482913"))
    with page.expect_navigation(url="**/inventory/balances/"):
        page.get_by_role("button", name="Record receipt").click()
    expect(page.get_by_text("Balance 100 mL")).to_be_visible()
    lot = Lot.objects.get(number=LOT)

    # Three real sessions, each dosed from the received lot.
    sessions = [
        run_session(page, name, drawn, given, left, lot) for name, _, drawn, given, left in PATIENTS
    ]
    snap(page, "ledger-session-dosed")

    # Each session posted its dose and a waste that waits for the witness.
    page.goto("/inventory/waste/unwitnessed/")
    expect(page.get_by_role("caption")).to_contain_text("3 waste entries await")
    snap(page, "ledger-unwitnessed")
    wastes = list(LedgerEntry.objects.filter(kind=Kind.WASTE).order_by("id"))
    assert [w.session_ref for w in wastes] == [str(s) for s in sessions]

    # The witness (Dr. Chen) types their own credentials on the nurse's tablet.
    for n, waste in enumerate(wastes):
        with page.expect_navigation(url=f"**/inventory/waste/{waste.pk}/witness/"):
            page.get_by_role("link", name=f"Witness #{waste.pk}").click()
        page.get_by_label("Witness username").fill("drchen")
        if n == 0:
            page.get_by_label("Witness's own password").fill("not-my-password")
            page.get_by_role("button", name="Confirm as witness").click()
            expect(page.get_by_text("Wrong password for this witness.")).to_be_visible()
            snap(page, "ledger-witness")
            page.get_by_label("Witness username").fill("drchen")
        page.get_by_label("Witness's own password").fill(PASSWORD)
        with page.expect_navigation(url="**/inventory/waste/unwitnessed/"):
            page.get_by_role("button", name="Confirm as witness").click()
        expect(page.get_by_role("link", name=f"Witness #{waste.pk}")).to_have_count(0)
    expect(page.get_by_role("caption")).to_contain_text("Every waste entry is witnessed.")

    # Close of business: count the safe. One vial is open, nine are sealed.
    page.goto("/inventory/counts/new/")
    page.get_by_label("Close of business").check()
    page.get_by_label(f"Counted, lot {LOT}").fill("97.6")
    page.get_by_label(f"Sealed containers, lot {LOT}").fill("9")
    page.get_by_role("row").filter(has_text=LOT).get_by_label("estimated").check()
    with page.expect_navigation(url="**/inventory/counts/*/"):
        page.get_by_role("button", name="Record count").click()
    expect(page.get_by_text("The count matches the ledger")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=f"lot {LOT}")).to_contain_text("97.6 mL")
    snap(page, "ledger-count")

    # The ledger balances to the milligram: 5000 mg in, 120 mg out, 4880 mg left.
    entries = list(LedgerEntry.objects.filter(lot=lot).order_by("id"))
    assert [
        (e.kind, e.session_ref, e.patient_id, f"{e.quantity.normalize():f}") for e in entries
    ] == [("receive", "", None, "100")] + [
        row
        for s, p, (given, wasted) in zip(sessions, patients, STOCK, strict=True)
        for row in (("administer", str(s), p.pk, given), ("waste", str(s), p.pk, wasted))
    ]
    assert [e.mg for e in entries] == [
        Decimal(x) for x in ("5000", "35", "5", "42", "8", "28.5", "1.5")
    ]
    assert sum(e.mg for e in entries if e.delta > 0) - sum(
        e.mg for e in entries if e.delta < 0
    ) == Decimal("4880")
    assert entries[-1].balance_after == Decimal("97.6")
    assert all(e.witness.username == "drchen" for e in entries if e.kind == Kind.WASTE)
    page.goto(f"/inventory/?lot={lot.pk}")
    expect(page.get_by_role("row").filter(has_text="Waste").first).to_contain_text("97.6 mL")
    snap(page, "ledger-lot")
    page.goto("/inventory/balances/")
    row = page.get_by_role("row").filter(has_text=LOT)
    expect(row).to_contain_text("97.6 mL")
    expect(row).to_contain_text("4880 mg")
    snap(page, "ledger-balances")

    # The inspector's reports for the day, downloaded by the admin.
    log_out(page)
    log_in(page, "alex", PASSWORD)
    landed(page)
    today = clinic.today()
    receipts = download_csv(page, "receipts", lot, today)
    assert [r[1:13] for r in receipts[1:]] == [
        [
            PRODUCT,
            "12345-0050-10",
            LOT,
            "2027-08-31",
            "10",
            "100 mL",
            "5000",
            "Pinecrest Medical Supply (fictional)",
            "400 Commerce Way, Westbrook, ME 04092",
            with_check_digit("RP482913"),
            "PMS-7781",
            "Grace Okafor (okafor)",
        ]
    ]
    given = download_csv(page, "administrations", lot, today)
    # Who received each dose: MRN, name and address (21 CFR 1304.22(c)).
    assert [r[1:10] for r in given[1:]] == [
        [
            p.mrn,
            f"{p.given_name} {p.family_name}",
            p.address,
            str(s),
            PRODUCT,
            LOT,
            f"{ml} mL",
            f"{mg}",
            "Grace Okafor (okafor)",
        ]
        for p, s, (ml, _), mg in zip(patients, sessions, STOCK, ("35", "42", "28.5"), strict=True)
    ]
    disposals = download_csv(page, "disposals", lot, today)
    assert [(r[1], r[4], r[5], r[7], r[8], r[9]) for r in disposals[1:]] == [
        ("Waste", f"{ml} mL", mg, p.mrn, "Grace Okafor (okafor)", "Lena Chen (drchen)")
        for p, (_, ml), mg in zip(patients, STOCK, ("5", "8", "1.5"), strict=True)
    ]
    counts = download_csv(page, "counts", lot, today)
    assert [(r[1], r[2], r[7], r[8], r[9], r[10], r[11], r[12]) for r in counts[1:]] == [
        ("Routine count", "Close of business", LOT, "97.6 mL", "9", "yes", "97.6", "0")
    ]
    snap(page, "ledger-reports")
