"""The front desk books a whole induction series in the browser and sees it on the day board."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.demo.management.commands.seed_demo import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment
from tests.browser.conftest import landed, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))


def test_front_desk_books_an_induction_series_and_sees_it_on_the_day_board(page, demo):
    patient = (
        Patient.objects.filter(clinic__slug="harbor", status="screening").order_by("mrn").first()
    )
    physician = Membership.objects.get(clinic__slug="harbor", user__username="dr.chen")
    today = patient.clinic.today()
    start = today + timedelta(days=14 - today.weekday())  # Monday in two weeks
    course = services.create_course(
        actor=Actor(user=physician.user, membership=physician),
        patient=patient,
        protocol_code="ketamine-iv-mood",
        start_date=start,
        dose_mg_per_kg=0.5,
    )

    log_in(page, "frontdesk.lee", DEMO_PASSWORD)
    landed(page)
    page.goto(f"/patients/{patient.pk}/")
    panel = page.get_by_role("region", name="Treatment course and appointments")
    expect(panel).to_contain_text("0 of 6")
    expect(panel).to_contain_text("Planned, not activated")
    panel.get_by_role("link", name="Book a series").click()

    page.wait_for_url("**/schedule/series/**")
    expect(page.get_by_label("Course")).to_contain_text(patient.mrn)
    page.get_by_label("Tue").uncheck()
    page.get_by_label("Thu").uncheck()
    page.get_by_label("Earliest start").fill("10:00")
    page.get_by_role("button", name="Propose sessions").click()

    proposal = page.get_by_role(
        "region", name=f"Proposal for {patient.display_name} · IV ketamine infusion for depression"
    )
    proposal.wait_for()
    rows = proposal.get_by_role("row")
    assert rows.count() == 7  # header + six sessions
    assert proposal.get_by_text("✓ inside").count() == 6
    expect(proposal).to_contain_text("Planned by the optimiser (OR-Tools CP-SAT")
    assert Appointment.objects.filter(course=course).count() == 0  # nothing saved yet
    snap(page, "scheduling-series-proposal")

    proposal.get_by_role("button", name="Book these 6 sessions").click()
    page.wait_for_url("**/schedule/?day=*")
    expect(page.get_by_role("status")).to_contain_text("6 sessions booked")
    board = page.get_by_role("table", name=f"Appointments by room, {start.day} {start:%B %Y}")
    card = board.locator("a.appt-link", has_text=patient.display_name)
    assert (
        card.count() == 1 and "Treatment · IV ketamine infusion for depression" in card.inner_text()
    )
    expect(card).to_contain_text("10:00")
    snap(page, "scheduling-day-board")

    booked = list(Appointment.objects.filter(course=course).order_by("start"))
    assert len(booked) == 6
    assert {a.start.astimezone(a.clinic.tz).weekday() for a in booked} <= {0, 2, 4}
    assert all(
        b.start - a.start >= timedelta(hours=48) for a, b in zip(booked, booked[1:], strict=False)
    )

    card.click()
    page.wait_for_url("**/schedule/appointments/*/")
    expect(page.get_by_role("heading", name="Move")).to_be_visible()
    snap(page, "scheduling-appointment")
    page.go_back()

    page.get_by_role("link", name="Week view").click()
    page.wait_for_url("**/schedule/week/**")
    snap(page, "scheduling-week")

    page.goto("/schedule/")  # today's board in the demo clinic
    assert page.get_by_role("table").get_by_role("link").count() > 0
    snap(page, "scheduling-today")

    page.goto(f"/patients/{patient.pk}/")
    panel = page.get_by_role("region", name="Treatment course and appointments")
    expect(panel).to_contain_text("6 of 6")
    panel.scroll_into_view_if_needed()
    snap(page, "scheduling-chart")
