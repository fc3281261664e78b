"""A nurse logs in, finds a patient and opens the chart, in a real browser."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from ketaclinic.audit.models import AuditEvent
from ketaclinic.demo.management.commands.seed_demo import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from tests.browser.conftest import PHONE, landed, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))


def test_a_nurse_logs_in_searches_and_opens_the_chart(page, demo):
    patient = Patient.objects.filter(clinic__slug="harbor").order_by("mrn").first()
    log_in(page, "nurse.okafor", DEMO_PASSWORD)
    landed(page)
    snap(page, "patients-list")

    page.get_by_label("Name, MRN or birth date").fill(patient.family_name[:4])
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("link", name=f"{patient.family_name}, {patient.given_name}").first
    row.wait_for()
    assert "q=" not in page.url  # the search never travels in the URL
    snap(page, "patients-search")

    row.click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    header = page.get_by_role("region", name="Patient", exact=True)
    expect(header).to_contain_text(patient.mrn)
    expect(header).to_contain_text("Weight")
    expect(page.get_by_role("heading", name="Medications")).to_be_visible()
    snap(page, "patient-chart")
    assert AuditEvent.objects.filter(
        action="view", patient_id=patient.pk, username="nurse.okafor"
    ).exists()


def test_the_front_desk_sees_no_clinical_sections(page, demo):
    patient = Patient.objects.filter(clinic__slug="harbor").order_by("mrn").first()
    log_in(page, "frontdesk.lee", DEMO_PASSWORD)
    landed(page)
    page.goto(f"/patients/{patient.pk}/")
    expect(page.get_by_role("heading", name="Contact")).to_be_visible()
    assert page.get_by_role("heading", name="Medications").count() == 0


def test_a_wrong_password_is_refused_plainly(page, demo):
    log_in(page, "nurse.okafor", "not-the-password")
    expect(page.get_by_role("alert").first).to_be_visible()
    assert "/login/" in page.url


def test_the_chart_reads_on_a_phone(page, demo):
    patient = Patient.objects.filter(clinic__slug="harbor").order_by("mrn").first()
    page.set_viewport_size(PHONE)
    log_in(page, "dr.chen", DEMO_PASSWORD)
    landed(page)
    page.goto(f"/patients/{patient.pk}/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    snap(page, "patient-chart-phone")


@pytest.mark.parametrize("username", ["admin", "dr.chen", "frontdesk.lee"])
def test_the_top_bar_is_one_row_on_a_tablet_with_every_link_in_view(page, demo, username):
    log_in(page, username, DEMO_PASSWORD)
    landed(page)
    bar = page.locator("header.topbar")
    expect(bar).to_be_visible()
    snap(page, f"topbar-tablet-{username}")
    height = bar.bounding_box()["height"]
    tops = {round(link.bounding_box()["y"]) for link in page.locator("nav.nav a").all()}
    assert len(tops) == 1, f"nav wraps into {len(tops)} rows"
    assert height <= 72
    hidden = page.evaluate(
        "(() => { const nav = document.querySelector('nav.nav');"
        " return nav.scrollWidth - nav.clientWidth; })()"
    )
    assert hidden <= 0, f"{hidden} px of the menu is scrolled out of view"
