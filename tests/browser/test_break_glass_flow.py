"""Break-glass in the browser: a therapist outside the care team opens a restricted chart with
a reason; the admin reviews the opening (issue #14)."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.services import add_clinic, add_staff
from ketaclinic.patients import restricted
from ketaclinic.patients.models import Patient
from tests.browser.conftest import PHONE, landed, log_in, log_out, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


@pytest.fixture
def restricted_chart(db):
    clinic = add_clinic(slug="harbor", name="Harbor Light", timezone="America/New_York")
    members = {
        role: add_staff(
            username=username,
            clinic=clinic,
            role=role,
            password=PASSWORD,
            first_name=first,
            last_name=last,
            email=f"{username}@harbor.example",
        )
        for role, username, first, last in [
            ("admin", "alex", "Alex", "Morgan"),
            ("physician", "drchen", "Lena", "Chen"),
            ("therapist", "rivera", "Sam", "Rivera"),
        ]
    }
    patient = Patient.objects.create(
        clinic=clinic,
        mrn="RS-000001",
        given_name="Robin",
        family_name="Ashdown",
        birth_date=date(1981, 9, 14),
        sex_at_birth="male",
        phone="+1 207 555 0177",
        status="active",
    )
    admin = members["admin"]
    restricted.set_restriction(
        actor=Actor(user=admin.user, membership=admin),
        patient=patient,
        restricted=True,
        care_team=[members["physician"].pk],
    )
    return patient


def test_break_glass_then_review(page, restricted_chart):
    log_in(page, "rivera", PASSWORD)
    landed(page)
    page.get_by_label("Name, MRN or birth date").fill("Ashdown")
    row = page.locator("#results tr", has_text="Ashdown")
    expect(row.get_by_text("Restricted")).to_be_visible()
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Restricted chart")).to_be_visible()
    expect(page.get_by_text("555 0177")).to_have_count(0)
    snap(page, "break-glass-form")
    page.get_by_label("Why do you need this chart?").fill("short")
    page.locator("#reason").evaluate("el => el.removeAttribute('minlength')")
    page.get_by_role("button", name="Open the chart for 30 minutes").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 10 characters")
    page.get_by_label("Why do you need this chart?").fill(
        "Covering the integration session today; need the last PHQ-9."
    )
    page.get_by_role("button", name="Open the chart for 30 minutes").click()
    expect(
        page.get_by_text("Break-glass: this chart is open to you for 30 minutes")
    ).to_be_visible()
    expect(page.get_by_text("555 0177")).to_be_visible()
    expect(page.get_by_text("Opened by break-glass")).to_be_visible()
    snap(page, "break-glass-chart-open")
    log_out(page)

    log_in(page, "alex", PASSWORD)
    landed(page, "/audit/")
    page.locator("details.account summary").click()
    page.get_by_role("link", name="Break-glass reviews").click()
    expect(page.get_by_text("Covering the integration session today")).to_be_visible()
    expect(page.get_by_text("Sam Rivera")).to_be_visible()
    snap(page, "break-glass-review-pending")
    page.get_by_label("Review note").fill("Appropriate: covering Dr Chen's integration session.")
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_text("Nothing waiting")).to_be_visible()
    expect(page.get_by_text("Appropriate: covering Dr Chen")).to_be_visible()
    snap(page, "break-glass-review-done")
    page.goto(f"/patients/{restricted_chart.pk}/restriction/")
    expect(page.get_by_label("Restrict this chart to its care team")).to_be_checked()
    page.set_viewport_size(PHONE)
    snap(page, "break-glass-restriction-phone")
