"""A physician reads the outcome dashboard and opens a number; an admin publishes; the public reads it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ketaclinic.audit.models import AuditEvent
from ketaclinic.outcomes.models import Publication
from tests.browser.conftest import landed, log_in, log_out, snap
from tests.conftest import PASSWORD
from tests.outcomes.factories import history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_physician_reads_the_dashboard_and_an_admin_publishes(page, clinic, staff):
    history(clinic, staff, patients=90)
    log_in(page, "drchen", PASSWORD)
    landed(page)
    page.locator("details.account summary").click()  # the account menu holds Outcomes
    page.get_by_role("link", name="Outcomes").click()
    expect(page.get_by_role("heading", name="Outcomes", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="PHQ-9 by protocol family")).to_be_visible()
    expect(page.locator("svg.km-chart")).to_be_visible()
    expect(page.get_by_role("heading", name="Adverse events")).to_be_visible()
    snap(page, "outcomes-dashboard")

    # Every number opens to its patients; the list is audited.
    page.locator("tfoot").get_by_role("link").nth(4).click()  # responders, all patients
    expect(page.get_by_role("heading", name="Responders (PHQ-9)")).to_be_visible()
    snap(page, "outcomes-drilldown")
    assert AuditEvent.objects.filter(
        action="outcomes_drilldown", user=staff["physician"].user
    ).exists()

    page.go_back()
    page.get_by_label("Group by").select_option("physician")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="PHQ-9 by treating physician")).to_be_visible()
    log_out(page)

    log_in(page, "alex", PASSWORD)
    page.goto("/outcomes/publish/")
    expect(page.get_by_role("heading", name="Publish outcomes")).to_be_visible()
    snap(page, "outcomes-publish-preview")
    page.get_by_role("button", name="Publish this snapshot").click()
    expect(page.get_by_role("heading", name="Treatment outcomes")).to_be_visible()
    assert Publication.objects.filter(clinic=clinic).count() == 1
    page.context.clear_cookies()  # the public: nobody logged in

    page.goto(f"/outcomes/published/{clinic.slug}/")
    expect(page.get_by_text("Harbor Light").first).to_be_visible()
    expect(page.get_by_text("fewer than 11").first).to_be_visible()
    expect(page.get_by_role("heading", name="How these numbers are made")).to_be_visible()
    snap(page, "outcomes-published")
