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


def test_nurses_see_the_nav_link_with_the_unwitnessed_count(
    staff, login, lot, nurse, patient, session
):
    services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="sink",
        witness="drchen",
    )
    page = login(staff["nurse"]).get("/patients/").content.decode()
    assert "Drug ledger" in page and "1 to witness" in page


def test_a_sessions_waste_with_no_witness_named_is_listed_for_anyone_to_witness(
    staff, login, lot, nurse, patient, session
):
    # A treatment session posts its left-over without naming a witness.
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="0.1",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="drug-disposal container",
    )
    response = login(staff["physician"]).get("/inventory/waste/unwitnessed/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 waste entry await" in page and f"Witness #{waste.pk}" in page
    assert f"MRN000001 · {session}" in page


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


def test_the_witness_types_their_own_password_on_the_same_tablet(
    staff, login, lot, nurse, patient, session
):
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="9.3",
        unit="mL",
        patient=patient,
        session_ref=session,
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


def test_the_ledger_page_costs_the_same_queries_for_many_entries(
    staff, login, lot, nurse, patient, new_session
):
    def draw(n):
        for _ in range(n):
            services.post_administration(
                actor=nurse,
                lot=lot,
                quantity="0.1",
                unit="mL",
                patient=patient,
                session_ref=new_session(),
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


def _day_of_activity(lot, nurse, patient, session):
    services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="0.7",
        unit="mL",
        patient=patient,
        session_ref=session,
        given_at=None,
    )
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="9.3",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="disposal container",
        witness="drchen",
    )
    services.confirm_waste_witness(
        actor=nurse, entry=waste, request=witness_request(), password=PASSWORD
    )


def test_reports_contain_the_right_rows(clinic, lot, nurse, patient, staff, session):
    patient.address = "12 Harbor Street\nPortland, ME 04101"
    patient.save()
    _day_of_activity(lot, nurse, patient, session)
    today = clinic.today()
    admin_rows = list(
        csv.reader(
            io.StringIO(
                reports.write_csv(reports.build("administrations", clinic, start=today, end=today))
            )
        )
    )
    assert admin_rows[0][1:5] == ["Patient MRN", "Patient", "Patient address", "Session"]
    assert admin_rows[1][1:10] == [
        "MRN000001",
        "Maria Garcia",
        "12 Harbor Street, Portland, ME 04101",
        session,
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
    clinic, staff, login, lot, nurse, patient, session
):
    _day_of_activity(lot, nurse, patient, session)
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
    staff, login, lot, nurse, patient, session
):
    wrong = services.post_administration(
        actor=nurse,
        lot=lot,
        quantity="7",
        unit="mL",
        patient=patient,
        session_ref=session,
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


def test_a_location_is_added_and_a_front_desk_may_not(staff, login, clinic):
    from ketaclinic.inventory.models import Location

    # Admins register storage at set-up (issue 10); it writes no ledger entry.
    for role in ("front_desk", "therapist"):
        assert (
            login(staff[role]).post("/inventory/locations/new/", {"name": "X"}).status_code == 403
        )
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


def test_the_administer_page_refuses_a_made_up_or_second_session(
    staff, login, lot, patient, session
):
    client = login(staff["nurse"])

    def give(ref):
        return client.post(
            "/inventory/administer/",
            {
                "lot": lot.pk,
                "quantity": "0.7",
                "patient_mrn": patient.mrn,
                "session_ref": ref,
                "given_at": timezone.localtime(timezone=lot.clinic.tz).strftime("%Y-%m-%dT%H:%M"),
            },
        )

    made_up = give("S-17")
    assert made_up.status_code == 200
    assert "is not a treatment session of this patient" in made_up.content.decode()
    assert LedgerEntry.objects.count() == 1
    assert give(session).status_code == 302
    twice = give(session)
    assert "already has its administration" in twice.content.decode()
    assert LedgerEntry.objects.filter(kind=Kind.ADMINISTER).count() == 1


def _pdf_strings(pdf: bytes) -> list[str]:
    """The strings drawn on the PDF's pages, in order: its content streams decoded as
    reportlab writes them (ASCII85, then Flate), each `(...) Tj` unescaped."""
    import base64
    import re
    import zlib

    streams = re.findall(rb"/ASCII85Decode /FlateDecode \].*?stream\r?\n(.*?)~>", pdf, re.S)
    assert streams, "no compressed page stream"
    text = "\n".join(
        zlib.decompress(base64.a85decode(b"".join(raw.split()))).decode("latin-1")
        for raw in streams
    )

    def unescape(match: re.Match) -> str:
        code = match.group(1)
        return bytes([int(code, 8)]).decode("cp1252") if code[0].isdigit() else code

    return [
        re.sub(r"\\([0-7]{3}|.)", unescape, drawn)
        for drawn in re.findall(r"\(((?:[^()\\]|\\.)*)\) Tj", text)
    ]


def test_the_administrations_pdf_lists_the_patient_dose_and_who_gave_it(
    clinic, staff, login, lot, nurse, patient, session
):
    patient.address = "12 Harbor Street\nPortland, ME 04101"
    patient.save()
    _day_of_activity(lot, nurse, patient, session)
    pdf = login(staff["admin"]).get(
        "/inventory/reports/download/", {"report": "administrations", "fmt": "pdf"}
    )
    assert pdf.status_code == 200
    drawn = _pdf_strings(pdf.content)
    assert drawn[0] == "Harbor Light — Administrations (Schedule III)"
    heading = drawn.index("Given")
    row = drawn.index("MRN000001") - 1
    assert drawn[heading : heading + 11] == [
        "Given",
        "Patient MRN",
        "Patient",
        "Patient address",
        "Session",
        "Product",
        "Lot",
        "Quantity",
        "mg",
        "Given by",
        "Note",
    ]
    # The one row (the note column is empty, drawn as no string).
    assert drawn[row + 1 : row + 10] == [
        "MRN000001",
        "Maria Garcia",
        "12 Harbor Street, Portland, ME 04101",
        session,
        "Ketamine 50 mg/mL, 10 mL vial",
        "K2401",
        "0.7 mL",
        "35",
        "Grace Okafor (okafor)",
    ]
    assert drawn[row] == timezone.localtime(
        LedgerEntry.objects.get(kind=Kind.ADMINISTER).occurred_at, clinic.tz
    ).strftime("%Y-%m-%d %H:%M")
    assert drawn[-1] == "1 row. End of report."


def test_a_cell_that_could_run_as_a_formula_is_quoted_in_the_csv(
    clinic, lot, nurse, patient, session
):
    attack = "-1 +cmd|' /C calc'!A0"
    services.return_stock(actor=nurse, lot=lot, quantity="1", manner=attack)
    disposals = reports.write_csv(reports.build("disposals", clinic))
    assert [r[6] for r in csv.reader(io.StringIO(disposals))][1:] == ["'" + attack]
    # A tab in front does not hide a formula (names are stored as typed).
    patient.given_name = "\t=HYPERLINK(1)"
    patient.save()
    _day_of_activity(lot, nurse, patient, session)
    given = reports.write_csv(reports.build("administrations", clinic))
    assert [r[2] for r in csv.reader(io.StringIO(given))][1:] == ["'\t=HYPERLINK(1) Garcia"]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("-0.5", "-0.5"),
        ("+12", "+12"),
        ("35", "35"),
        ("-1 +cmd|' /C calc'!A0", "'-1 +cmd|' /C calc'!A0"),
        ("-9.3 mL", "'-9.3 mL"),
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Lena Chen", "Lena Chen"),
    ],
)
def test_only_a_plain_number_may_start_like_a_formula(cell, written):
    assert reports.csv_safe(cell) == written


def test_the_counts_report_takes_whole_days_in_the_clinics_time_zone(clinic, lot, nurse):
    from datetime import datetime

    evening = datetime(2026, 11, 20, 20, 30, tzinfo=clinic.tz)  # 01:30 on the 21st in UTC
    services.record_count(
        actor=nurse,
        location=services.default_location(clinic),
        timing="closing",
        counted_at=evening,
        lines=[{"lot": lot, "counted": "100"}],
    )

    def counted_on(day):
        return list(reports.build("counts", clinic, start=day, end=day).rows)

    assert [r[0] for r in counted_on(date(2026, 11, 20))] == ["2026-11-20 20:30"]
    assert counted_on(date(2026, 11, 21)) == []


def test_the_banner_says_which_location_needs_its_inventory(staff, login, lot, clinic):
    from ketaclinic.inventory.models import Location

    services.record_count(
        actor=actor(staff["nurse"]),
        location=services.default_location(clinic),
        timing="opening",
        kind="initial",
        lines=[{"lot": lot, "counted": "100"}],
    )
    lockbox = Location.objects.create(clinic=clinic, name="Treatment room lockbox")
    page = login(staff["nurse"]).get("/inventory/").content.decode()
    assert "No initial inventory is on record for Treatment room lockbox" in page
    assert f"?location={lockbox.pk}&amp;kind=initial" in page
    assert "for Main safe" not in page


def test_a_reversed_waste_shows_as_resolved_on_its_witness_page(
    staff, login, lot, nurse, patient, session
):
    waste = services.post_waste_pending_witness(
        actor=nurse,
        lot=lot,
        quantity="1",
        unit="mL",
        patient=patient,
        session_ref=session,
        manner="sink",
        witness="drchen",
    )
    services.correct_entry(
        actor=nurse,
        request=witness_request(),
        entry=waste,
        reason="wrong lot",
        witness="drchen",
        witness_password=PASSWORD,
    )
    tablet = login(staff["nurse"])
    assert "1 to witness" not in tablet.get("/patients/").content.decode()
    url = f"/inventory/waste/{waste.pk}/witness/"
    assert "reversed by a co-signed correction" in tablet.get(url).content.decode()
    tablet.post(url, {"username": "drchen", "password": PASSWORD})
    assert LedgerEntry.objects.get(pk=waste.pk).witness_id is None
    ledger = tablet.get("/inventory/").content.decode()
    assert f'aria-label="Correct entry #{waste.pk}"' not in ledger
