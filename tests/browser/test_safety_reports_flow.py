"""A physician marks an event reportable; a nurse drafts and sends the MedWatch report; the
chart shows liver tests due and takes the new result."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ketaclinic.treatment.models import (
    Administration,
    AdverseEvent,
    AdverseEventReport,
    LiverTest,
)
from tests import builders
from tests.browser.conftest import landed, log_in, log_out, snap
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def treated(clinic, staff, patient):
    """An IV course started 100 days ago (liver tests due) and a session with nausea yesterday."""
    clinic.phone = "+1 207 555 0100"
    clinic.save()
    now = timezone.now()
    course = builders.course(
        clinic,
        patient,
        staff["physician"].user,
        protocol_version=2,
        start_date=clinic.today() - timedelta(days=100),
        activated_at=now - timedelta(days=100),
        **builders.iv_dose(),
    )
    start = now - timedelta(days=1, hours=2)
    visit = builders.appointment(
        clinic,
        patient,
        course,
        builders.chair(clinic),
        start=start,
        minutes=100,
        status="completed",
    )
    session = builders.session(
        visit,
        staff["nurse"].user,
        dose_started_at=start + timedelta(minutes=15),
        dose_ended_at=start + timedelta(minutes=55),
        discharged_at=start + timedelta(minutes=95),
    )
    Administration.objects.create(
        session=session,
        drug="racemic_ketamine",
        product="Ketamine 50 mg/mL, 10 mL vial",
        lot_number="KET-2291",
        route="iv",
        dose_mg=Decimal("35"),
        dose_mg_per_kg=Decimal("0.5"),
        concentration_mg_per_ml=Decimal("1"),
        unit="mL",
        recorded_by=staff["nurse"].user,
        recorded_at=start + timedelta(minutes=15),
    )
    AdverseEvent.objects.create(
        session=session,
        type="nausea_vomiting",
        severity="severe",
        onset_at=start + timedelta(minutes=40),
        interventions=["infusion_paused", "drug_given"],
        drug_given="ondansetron 4 mg IV",
        outcome="resolved",
        recorded_by=staff["nurse"].user,
        recorded_at=start + timedelta(minutes=45),
    )
    return session


def test_an_event_is_reported_drafted_and_sent_and_liver_tests_are_recorded(
    page, staff, patient, treated
):
    session = treated
    # The physician marks yesterday's severe vomiting reportable from the session page.
    log_in(page, "drchen", PASSWORD)
    landed(page)
    page.goto(f"/treatment/sessions/{session.pk}/#events")
    page.get_by_text("Mark reportable (MedWatch)").click()
    page.get_by_label("Why this event is reported").fill(
        "Severe vomiting needing treatment: unexpected at this dose."
    )
    page.get_by_role("button", name="Mark reportable").click()
    page.get_by_text("Marked reportable: 1 report(s) due.").wait_for()
    expect(page.get_by_text("⛔ Due").first).to_be_visible()
    snap(page, "ae-report-due")
    log_out(page)

    # The nurse finds it from the chair board, writes the description and sends it.
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.goto("/treatment/board/")
    page.get_by_role("link", name="Adverse-event reports").click()
    due = page.locator("section", has=page.locator("#due-h"))
    expect(due.locator("tbody tr")).to_have_count(1)
    due.get_by_role("link", name="FDA MedWatch Form 3500").click()
    expect(page.get_by_text("KET-2291")).to_be_visible()
    page.get_by_label("Describe the event (what happened, when, what was done)").fill(
        "Forty minutes into the infusion the patient vomited twice; infusion paused, "
        "ondansetron 4 mg IV given, resumed after 10 minutes."
    )
    page.get_by_label("Required intervention to prevent permanent impairment or damage").check()
    page.get_by_role("button", name="Save the draft").click()
    page.get_by_text("Draft saved.").wait_for()
    snap(page, "ae-report-drafted")
    pdf = page.request.get(page.get_by_role("link", name="Open the PDF").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    page.get_by_label("Reference (FDA or REMS case number, if given)").fill("MW-2026-118")
    page.get_by_role("button", name="Record as submitted").click()
    page.get_by_text("Submission recorded.").wait_for()
    expect(page.get_by_text("✓ Submitted").first).to_be_visible()
    report = AdverseEventReport.objects.get()
    assert (report.status, report.submitted_by, report.reference) == (
        "submitted",
        staff["nurse"].user,
        "MW-2026-118",
    )
    page.goto("/treatment/adverse-event-reports/")
    sent = page.locator("section", has=page.locator("#submitted-h"))
    expect(sent.locator("tbody tr")).to_contain_text("Grace Okafor")
    snap(page, "ae-reports-list")

    # The chart says the liver tests are due; the nurse records today's normal result.
    page.goto(f"/patients/{patient.pk}/")
    expect(page.get_by_text("Liver tests due").first).to_be_visible()
    snap(page, "chart-liver-tests-due")
    page.get_by_role("link", name="Liver tests", exact=True).click()
    page.get_by_label("Blood taken on").fill(str(patient.clinic.today()))
    page.get_by_label("Within normal limits").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Liver tests recorded.").wait_for()
    expect(page.get_by_text("Liver tests current").first).to_be_visible()
    assert LiverTest.objects.filter(patient=patient, result="normal").count() == 1
    snap(page, "liver-tests-recorded")
