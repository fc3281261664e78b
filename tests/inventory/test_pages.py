"""Ledger pages: who sees them, the witness on the same tablet, counts, reports and their audit."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.inventory import reports, services
from ketaclinic.inventory.models import CountSession, Kind, LedgerEntry, Lot
from tests.conftest import PASSWORD
from tests.inventory.conftest import DEA, actor, witness_request

pytestmark = pytest.mark.django_db

PAGES = [
    "/inventory/",
    "/inventory/balances/",
    "/inventory/receive/",
    "/inventory/administer/",
    "/inventory/waste/",
    "/inventory/waste/unwitnessed/",
    "/inventory/counts/",
    "/inventory/counts/new/",
    "/inventory/losses/",
    "/inventory/record/destroy/",
    "/inventory/reports/",
]


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_front_desk_and_therapists_see_nothing_of_the_ledger(role, staff, login, lot):
    client = login(staff[role])
    for url in PAGES:
        assert client.get(url).status_code == 403, url
    before = LedgerEntry.objects.count()
    refused = client.post("/inventory/administer/", {"lot": lot.pk, "quantity": "1"})
    assert refused.status_code == 403 and LedgerEntry.objects.count() == before
    assert "Drug ledger" not in client.get("/patients/").content.decode()


def test_nurses_see_the_nav_link_with_the_unwitnessed_count(staff, login, lot, nurse, patient):
    services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref="s",
        manner="sink",
        witness="drchen",
    )
    page = login(staff["nurse"]).get("/patients/").content.decode()
    assert "Drug ledger" in page and "1 to witness" in page


def test_a_sessions_waste_with_no_witness_named_is_listed_for_anyone_to_witness(
    staff, login, lot, nurse, patient
):
    # A treatment session posts its left-over without naming a witness.
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="0.1",
        unit="mL",
        patient=patient,
        session_ref="17",
        manner="drug-disposal container",
    )
    response = login(staff["physician"]).get("/inventory/waste/unwitnessed/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 waste entry await" in page and f"Witness #{waste.pk}" in page
    assert "MRN000001 · 17" in page


def test_a_nurse_receives_stock_through_the_page(staff, login, vial):
    client = login(staff["nurse"])
    bad = client.post(
        "/inventory/receive/",
        {
            "product": vial.pk,
            "lot": "K9",
            "expiry": "2027-01-31",
            "containers": 5,
            "supplier_name": "Northeast",
            "supplier_address": "1 Depot Rd",
            "supplier_dea_number": "RH1234560",
        },
    )
    assert bad.status_code == 200 and "check digit" in bad.content.decode()
    assert LedgerEntry.objects.count() == 0
    done = client.post(
        "/inventory/receive/",
        {
            "product": vial.pk,
            "lot": "K9",
            "expiry": "2027-01-31",
            "containers": 5,
            "supplier_name": "Northeast",
            "supplier_address": "1 Depot Rd",
            "supplier_dea_number": DEA,
            "invoice": "INV-9",
        },
    )
    assert done.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.quantity, entry.mg, entry.containers) == (
        Kind.RECEIVE,
        Decimal("50.000"),
        Decimal("2500.000"),
        5,
    )


def test_the_witness_types_their_own_password_on_the_same_tablet(staff, login, lot, nurse, patient):
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="9.3",
        unit="mL",
        patient=patient,
        session_ref="s",
        manner="disposal container",
        witness="drchen",
    )
    tablet = login(staff["nurse"])  # the nurse's session stays logged in
    wrong = tablet.post(
        f"/inventory/waste/{waste.pk}/witness/", {"username": "drchen", "password": "no"}
    )
    assert "Wrong password" in wrong.content.decode()
    assert LedgerEntry.objects.get(pk=waste.pk).witness_id is None
    ok = tablet.post(
        f"/inventory/waste/{waste.pk}/witness/", {"username": "drchen", "password": PASSWORD}
    )
    assert ok.status_code == 302
    assert LedgerEntry.objects.get(pk=waste.pk).witness == staff["physician"].user


def test_the_ledger_page_costs_the_same_queries_for_many_entries(staff, login, lot, nurse, patient):
    def draw(n):
        for i in range(n):
            services.post_administration(
                actor=nurse,
                lot=lot,
                quantity="0.1",
                unit="mL",
                patient=patient,
                session_ref=f"s{i}",
                given_at=None,
            )

    client = login(staff["nurse"])
    draw(2)
    client.get("/inventory/")  # the first request of a session also saves the session
    with CaptureQueriesContext(connection) as few:
        assert client.get("/inventory/").status_code == 200
    draw(30)
    with CaptureQueriesContext(connection) as many:
        page = client.get("/inventory/")
    assert len(many) == len(few)
    assert "96.8" in page.content.decode()  # the running balance after 32 draws of 0.1 mL


def test_a_count_page_records_a_matching_closing_count(staff, login, lot):
    client = login(staff["nurse"])
    response = client.post(
        "/inventory/counts/new/",
        {
            "timing": "closing",
            "kind": "count",
            f"counted-{lot.pk}": "100",
            f"sealed-{lot.pk}": "10",
        },
    )
    assert response.status_code == 302
    session = CountSession.objects.get()
    page = client.get(f"/inventory/counts/{session.pk}/").content.decode()
    assert "The count matches the ledger" in page


def _day_of_activity(lot, nurse, patient):
    services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="0.7",
        unit="mL",
        patient=patient,
        session_ref="s-1",
        given_at=None,
    )
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="9.3",
        unit="mL",
        patient=patient,
        session_ref="s-1",
        manner="disposal container",
        witness="drchen",
    )
    services.confirm_waste_witness(
        actor=nurse, entry=waste, request=witness_request(), password=PASSWORD
    )


def test_reports_contain_the_right_rows(clinic, lot, nurse, patient, staff):
    _day_of_activity(lot, nurse, patient)
    today = timezone.localdate()
    admin_rows = list(
        csv.reader(
            io.StringIO(
                reports.write_csv(reports.build("administrations", clinic, start=today, end=today))
            )
        )
    )
    assert admin_rows[1][1:8] == [
        "MRN000001",
        "s-1",
        "Ketamine 50 mg/mL, 10 mL vial",
        "K2401",
        "0.7 mL",
        "35",
        "Grace Okafor (okafor)",
    ]
    assert len(admin_rows) == 2
    disposals = list(csv.reader(io.StringIO(reports.write_csv(reports.build("disposals", clinic)))))
    assert disposals[1][1:10] == [
        "Waste",
        "Ketamine 50 mg/mL, 10 mL vial",
        "K2401",
        "9.3 mL",
        "465",
        "disposal container",
        "MRN000001",
        "Grace Okafor (okafor)",
        "Lena Chen (drchen)",
    ]
    receipts = list(csv.reader(io.StringIO(reports.write_csv(reports.build("receipts", clinic)))))
    assert receipts[1][5:11] == [
        "10",
        "100 mL",
        "5000",
        "Northeast Medical Distribution",
        "1 Depot Road, Augusta, ME 04330",
        DEA,
    ]
    yesterday = today - timedelta(days=1)
    empty = list(
        csv.reader(
            io.StringIO(
                reports.write_csv(
                    reports.build("administrations", clinic, start=yesterday, end=yesterday)
                )
            )
        )
    )
    assert len(empty) == 1
    expiring = reports.build("expiring", clinic, today=lot.expiry - timedelta(days=30))
    assert [r[3] for r in expiring.rows] == ["K2401"]


def test_a_report_download_is_audited_and_only_admins_may(
    clinic, staff, login, lot, nurse, patient
):
    _day_of_activity(lot, nurse, patient)
    admin = login(staff["admin"])
    pdf = admin.get("/inventory/reports/download/", {"report": "administrations", "fmt": "pdf"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(
        action="export", username="alex", detail__report="administrations"
    ).exists()
    assert (
        login(staff["nurse"])
        .get("/inventory/reports/download/", {"report": "administrations", "fmt": "csv"})
        .status_code
        == 403
    )


def test_inventory_due_banner_shows_until_the_initial_inventory(staff, login, lot):
    client = login(staff["nurse"])
    assert "No initial inventory" in client.get("/inventory/").content.decode()
    services.record_count(
        actor=actor(staff["nurse"]),
        location=services.default_location(lot.clinic),
        timing="opening",
        kind="initial",
        lines=[{"lot": lot, "counted": "100"}],
    )
    assert "No initial inventory" not in client.get("/inventory/").content.decode()


def test_another_clinics_lot_is_not_offered(staff, outsider, login, lot):
    page = login(outsider).get("/inventory/administer/").content.decode()
    assert "K2401" not in page
    assert Lot.objects.count() == 1


def test_a_mistake_is_reversed_on_the_correction_page_with_a_cosigner(
    staff, login, lot, nurse, patient
):
    wrong = services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="7",
        unit="mL",
        patient=patient,
        session_ref="s",
        given_at=None,
    )
    client = login(staff["nurse"])
    assert f"Correct entry #{wrong.pk}" in client.get("/inventory/").content.decode()
    refused = client.post(
        f"/inventory/entries/{wrong.pk}/correct/",
        {"reason": "typed 7 for 0.7", "witness": "drchen", "witness_password": "nope"},
    )
    assert "Wrong password" in refused.content.decode()
    assert LedgerEntry.objects.count() == 2
    done = client.post(
        f"/inventory/entries/{wrong.pk}/correct/",
        {"reason": "typed 7 for 0.7", "witness": "drchen", "witness_password": PASSWORD},
    )
    assert done.status_code == 302
    fix = LedgerEntry.objects.latest("id")
    assert (fix.corrects_id, fix.delta, fix.balance_after, fix.witness) == (
        wrong.pk,
        Decimal("7.000"),
        Decimal("100.000"),
        staff["physician"].user,
    )


def test_a_location_is_added_and_an_admin_may_not(staff, login, clinic):
    from ketaclinic.inventory.models import Location

    assert login(staff["admin"]).post("/inventory/locations/new/", {"name": "X"}).status_code == 403
    assert (
        login(staff["nurse"])
        .post("/inventory/locations/new/", {"name": "Treatment room lockbox"})
        .status_code
        == 302
    )
    assert sorted(Location.objects.filter(clinic=clinic).values_list("name", flat=True)) == [
        "Main safe",
        "Treatment room lockbox",
    ]


def test_a_loss_is_tracked_until_form_106_is_filed(staff, login, lot):
    client = login(staff["nurse"])
    response = client.post(
        "/inventory/record/loss/",
        {
            "lot": lot.pk,
            "quantity": "10",
            "circumstances": "Sealed vial missing at opening count",
            "discovered_on": "2026-11-20",
            "theft_suspected": "on",
        },
    )
    assert response.status_code == 302
    report = services.LossReport.objects.get()
    page = client.get(f"/inventory/losses/{report.pk}/").content.decode()
    assert "12345-0050-10" in page and "10 mL" in page and "500 mg" in page
    assert "Mon 2026-11-23" in page  # Friday discovery: notice due Monday
    listing = client.get("/inventory/losses/").content.decode()
    assert "overdue since 2026-11-23" in listing
    client.post(f"/inventory/losses/{report.pk}/", {"action": "notice"})
    client.post(
        f"/inventory/losses/{report.pk}/", {"action": "filed", "reference": "106-2026-0042"}
    )
    report.refresh_from_db()
    assert report.notice_sent_at and report.filed_reference == "106-2026-0042"
    assert report.filed_by == staff["nurse"].user


def test_the_balances_page_costs_the_same_queries_for_more_lots(staff, login, vial, nurse):
    client = login(staff["nurse"])
    client.get("/inventory/balances/")

    def receive(number):
        services.receive(
            actor=nurse,
            product=vial,
            lot_number=number,
            expiry=date(2027, 1, 1),
            containers=2,
            supplier_name="S",
            supplier_address="A",
            supplier_dea_number=DEA,
        )

    receive("A1")
    with CaptureQueriesContext(connection) as few:
        client.get("/inventory/balances/")
    for n in range(8):
        receive(f"B{n}")
    with CaptureQueriesContext(connection) as many:
        page = client.get("/inventory/balances/")
    assert len(many) == len(few)
    assert page.content.decode().count("2 sealed") == 0 and "B7" in page.content.decode()
