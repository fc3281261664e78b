"""A patient fills a PHQ-9 from an e-mailed link on a phone; a clinician sees and resolves the alert."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from ketaclinic.measures.models import Alert, Response
from tests.browser.conftest import PHONE, landed, log_in, log_out, snap
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reachable(patient, staff):
    patient.email = "maria@example.org"
    patient.save(update_fields=["email"])
    doctor = staff["physician"].user
    doctor.email = "chen@harbor.example"
    doctor.save(update_fields=["email"])
    return patient


def test_a_patient_fills_a_phq9_on_a_phone_and_a_clinician_resolves_the_alert(
    page, browser, live_server, staff, reachable
):
    patient = reachable
    # The nurse e-mails a PHQ-9 link from the chart.
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.goto(f"/patients/{patient.pk}/")
    send = page.locator("form", has=page.get_by_role("button", name="Send link"))
    send.get_by_label("Patient Health Questionnaire (PHQ-9)").check()
    send.get_by_role("button", name="Send link").click()
    page.get_by_text("Questionnaire link e-mailed").wait_for()
    link = re.search(r"https?://\S+/q/\S+/", mail.outbox[-1].body).group(0)
    path = link[link.index("/q/") :]

    # The patient opens it on a phone: no login, the clinic's name, the questions.
    phone = browser.new_context(viewport=PHONE, base_url=live_server.url)
    mobile = phone.new_page()
    mobile.goto(path)
    expect(mobile.get_by_text("Harbor Light").first).to_be_visible()
    assert patient.family_name not in mobile.content()
    assert mobile.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    snap(mobile, "measures-link-phone")
    for number in range(1, 9):
        mobile.locator(f"#phq9-item_{number}").get_by_text("Several days").click()
    mobile.locator("#phq9-item_9").get_by_text("Several days").click()
    snap(mobile, "measures-link-phone-filled")
    mobile.get_by_role("button", name="Send my answers").click()
    mobile.get_by_role("heading", name="Thank you — your answers were received").wait_for()
    snap(mobile, "measures-link-phone-done")
    # The link works once.
    mobile.goto(path)
    expect(mobile.get_by_role("heading", name="This link has already been used")).to_be_visible()
    phone.close()

    stored = Response.objects.get()
    assert (stored.total, stored.severity, stored.source) == (9, "mild", "patient_link")
    assert Alert.objects.get().status == "open"
    assert mail.outbox[-1].to == ["chen@harbor.example"]

    # The physician sees the alert in the header and resolves it on the alert list.
    log_out(page)
    log_in(page, "drchen", PASSWORD)
    landed(page)
    expect(page.get_by_role("link", name=re.compile("Alerts.*1 open"))).to_be_visible()
    page.goto(f"/patients/{patient.pk}/")
    badge = page.get_by_role("link", name="⛔ Suicidality alert — urgent")
    expect(badge).to_be_visible()
    snap(page, "measures-chart-with-alert")
    badge.click()
    page.wait_for_url("**/alerts/**")
    card = page.locator("article.alert-card").first
    card.get_by_text("Safety assessment done").click()
    card.get_by_role("textbox", name="Note").fill(
        "Called the patient; safety assessment done, no current intent."
    )
    snap(page, "measures-alert-list")
    card.get_by_role("button", name="Resolve alert").click()
    page.get_by_text("No open alerts.").wait_for()
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.action == "safety_assessment"
    assert alert.resolved_by == staff["physician"].user
    page.goto(f"/patients/{patient.pk}/")
    assert page.get_by_role("link", name="⛔ Suicidality alert — urgent").count() == 0


def test_a_clinician_enters_a_phq9_with_the_keyboard(page, staff, patient):
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.goto(f"/measures/patients/{patient.pk}/enter/?instrument=phq9")
    # Tab into each item's radio group, arrow to "More than half the days" (value 2).
    first = page.locator("#item_1_0")
    first.focus()
    for number in range(1, 10):
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        if number < 9:
            page.keyboard.press("Tab")
    snap(page, "measures-entry")
    page.get_by_role("button", name="Save and score").click()
    page.get_by_role("heading", name=re.compile("Saved")).wait_for()
    expect(page.locator(".result-score .big")).to_have_text("18")
    expect(page.get_by_text("Moderately severe").first).to_be_visible()
    expect(page.get_by_text("Suicidality alert — urgent").first).to_be_visible()
    # The patient header gains the alert badge without a reload (htmx out-of-band swap).
    expect(page.locator("#measure-flags").get_by_text("Suicidality alert — urgent")).to_be_visible()
    snap(page, "measures-entry-result")
    assert Response.objects.get().answers == [2] * 9


def test_the_chart_shows_the_trend(page, staff, patient):
    from datetime import timedelta

    from django.utils import timezone

    from ketaclinic.accounts.access import Actor
    from ketaclinic.measures.services import record_response

    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    start = timezone.now() - timedelta(weeks=6)
    for week, total in enumerate([21, 17, 12, 10, 7, 5, 4]):
        answers = [0] * 9
        for i in range(total):
            answers[i % 8] += 1
        record_response(
            actor=actor,
            patient=patient,
            instrument="phq9",
            answers=answers,
            taken_at=start + timedelta(weeks=week),
        )
    log_in(page, "drchen", PASSWORD)
    landed(page)
    page.goto(f"/patients/{patient.pk}/")
    chart = page.get_by_role("img", name=re.compile("Trend of Patient Health Questionnaire"))
    chart.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.trend img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    snap(page, "measures-chart-trend")
