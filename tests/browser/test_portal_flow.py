"""Done means (issue 16): a patient on a phone checks in, fills a questionnaire, reads their
progress, writes a journal entry and shares another, messages the team and reads the reply,
with axe-core passing on every portal page; the staff then see the check-in on the session
checklist, the shared entry on the timeline and the message in the inbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ketaclinic.accounts.access import Actor
from ketaclinic.measures.services import record_response
from ketaclinic.portal import services as portal
from ketaclinic.portal.models import Thread
from ketaclinic.portal.sign_in import send_requested_links
from ketaclinic.scheduling.models import Room
from ketaclinic.treatment import checklist as checklist_module
from ketaclinic.treatment import services as treatment
from tests.browser.axe import assert_accessible
from tests.browser.conftest import PHONE, TABLET, landed, log_in, snap
from tests.conftest import PASSWORD
from tests.portal.conftest import PATIENT_PASSWORD, due_link, homework_for, make_account
from tests.treatment.conftest import make_appointment, make_course

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fits(page, width: int) -> None:
    """Nothing wider than the screen: usable without sideways scrolling."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.fixture
def portal_day(clinic, staff, patient, monkeypatch):
    monkeypatch.setattr(checklist_module.gates, "missing_items", lambda **kw: [])
    patient.email = "maria.garcia@example.org"
    patient.weight_measured_on = clinic.today()
    patient.save()
    chair = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair", position=1)
    course = make_course(
        clinic,
        patient,
        staff["physician"],
        "ketamine-iv-mood",
        "ketamine-iv-mood",
        dose_mg_per_kg=Decimal("0.5"),
        weight_basis="actual",
    )
    appointment = make_appointment(clinic, patient, course, chair, status="booked")
    nurse = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    record_response(
        actor=nurse,
        patient=patient,
        instrument="phq9",
        answers=[3, 3, 3, 2, 2, 2, 2, 2, 0],
        taken_at=timezone.now() - timedelta(days=30),
    )
    due_link(patient)
    homework_for(patient, staff["therapist"], title="Slow breathing, 5 minutes")
    account = make_account(staff["front_desk"], patient)
    return {"appointment": appointment, "account": account, "nurse": nurse}


def test_a_patient_uses_the_portal_on_a_phone_and_staff_see_it(
    browser, live_server, staff, patient, portal_day
):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    log_in(page, "maria.garcia@example.org", PATIENT_PASSWORD)
    page.wait_for_url("**/portal/")
    expect(page.get_by_role("heading", name="Hello, Maria")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("988")
    assert_accessible(page)
    snap(page, "portal-home-phone")

    # Check-in for today's session.
    page.get_by_role("link", name="Check in for today").click()
    page.get_by_label("Name of the adult who drives you home").fill("Ana Garcia")
    page.get_by_label("Their phone number").fill("+1 207 555 0199")
    page.get_by_label("When did you last eat?").fill("06:30")
    page.get_by_label("No").check()
    page.get_by_label("New medicines or changes").fill("Started sertraline 50 mg")
    assert_accessible(page)
    snap(page, "portal-checkin-phone")
    page.get_by_role("button", name="Send my check-in").click()
    expect(page.get_by_role("status")).to_contain_text("you are checked in")

    # A questionnaire: the same PHQ-9, scored as the e-mailed link would be.
    page.get_by_role("link", name="Questionnaires", exact=True).click()
    page.wait_for_url("**/portal/questionnaires/")
    assert_accessible(page)
    page.get_by_role("link", name="Start").click()
    for n, value in enumerate([1, 1, 1, 1, 1, 1, 1, 1, 0], start=1):
        page.locator(f"#phq9-item_{n}_{value}").check()
    assert_accessible(page)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    assert_accessible(page)

    # Progress in plain words, with the chart's data as a table.
    page.get_by_role("link", name="My progress", exact=True).click()
    expect(
        page.get_by_text("PHQ-9 went from 19 to 8 — that is a 58 % improvement.")
    ).to_be_visible()
    expect(page.locator("table caption")).to_contain_text("scores")
    assert_accessible(page)
    snap(page, "portal-progress-phone")

    # The journal: one private entry, one shared.
    page.get_by_role("link", name="Journal", exact=True).click()
    page.get_by_label("New entry").fill("Slept better; only for me.")
    page.get_by_role("button", name="Save entry").click()
    page.get_by_label("New entry").fill("I called my sister after the session.")
    page.get_by_label("Share this entry with my care team").check()
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_role("status")).to_contain_text("Shared with your care team")
    assert_accessible(page)
    snap(page, "portal-journal-phone")

    page.get_by_role("link", name="Practices", exact=True).click()
    page.get_by_role("button", name="Mark done: Slow breathing, 5 minutes").click()
    expect(page.get_by_role("status")).to_contain_text("Marked done")
    assert_accessible(page)

    # A message to the team; the nurse answers; the patient reads the reply.
    page.get_by_role("link", name="Messages", exact=True).click()
    expect(page.get_by_text("Messages are not for emergencies")).to_be_visible()
    page.get_by_label("Subject").fill("Coffee before my session?")
    page.get_by_label("Message").fill("May I have black coffee in the morning?")
    page.get_by_role("button", name="Send message").click()
    page.wait_for_url("**/portal/messages/*/")
    assert_accessible(page)
    thread = Thread.objects.get()
    portal.reply(
        actor=portal_day["nurse"], thread=thread, body="Black coffee until 30 minutes before."
    )
    page.reload()
    expect(page.get_by_text("Black coffee until 30 minutes before.")).to_be_visible()
    snap(page, "portal-thread-phone")

    for name, path in (
        ("Appointments", "/portal/appointments/"),
        ("Documents", "/portal/documents/"),
        ("Home", "/portal/"),
    ):
        page.get_by_role("link", name=name, exact=True).click()
        page.wait_for_url(f"**{path}")
        assert_accessible(page)

    # 320 px wide: every portal page still fits.
    page.set_viewport_size({"width": 320, "height": 640})
    for path in (
        "/portal/",
        "/portal/appointments/",
        "/portal/progress/",
        "/portal/journal/",
        f"/portal/messages/{thread.pk}/",
        "/portal/questionnaires/",
        "/portal/homework/",
        "/portal/documents/",
    ):
        page.goto(path)
        _fits(page, 320)
    snap(page, "portal-documents-320")
    context.close()

    # Staff: the nurse sees the check-in on the session checklist, as "patient reported".
    staff_context = browser.new_context(viewport=TABLET, base_url=live_server.url)
    staff_page = staff_context.new_page()
    staff_page.set_default_timeout(60_000)
    appointment = portal_day["appointment"]
    appointment.status = "checked_in"
    appointment.save(update_fields=["status"])
    session = treatment.start_session(actor=portal_day["nurse"], appointment=appointment)
    log_in(staff_page, "okafor", PASSWORD)
    landed(staff_page, f"/treatment/sessions/{session.pk}/")
    reported = staff_page.locator(".patient-reported")
    expect(reported).to_contain_text("Patient reported")
    expect(reported).to_contain_text("Ana Garcia")
    snap(staff_page, "portal-nurse-checklist")
    staff_page.goto("/messages/")
    expect(staff_page.get_by_role("link", name="Coffee before my session?")).to_be_visible()
    staff_context.close()

    therapist_context = browser.new_context(viewport=TABLET, base_url=live_server.url)
    therapist = therapist_context.new_page()
    therapist.set_default_timeout(60_000)
    log_in(therapist, "rivera", PASSWORD)
    landed(therapist, f"/integration/patients/{patient.pk}/")
    expect(therapist.get_by_text("I called my sister after the session.")).to_be_visible()
    expect(therapist.get_by_text("Slept better; only for me.")).to_have_count(0)
    snap(therapist, "portal-therapist-timeline")
    therapist_context.close()


def test_a_patient_signs_in_by_emailed_link_and_turns_on_two_step_sign_in(
    browser, live_server, staff, patient, mailoutbox
):
    """The other ways in (issue 16): the e-mailed one-time link from the log-in page, then
    an authenticator from Security, which the next sign-in by link asks for."""
    import re

    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    patient.email = "maria.garcia@example.org"
    patient.save()
    make_account(staff["front_desk"], patient)
    mailoutbox.clear()
    context = browser.new_context(viewport=PHONE, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)

    def mailed_link() -> str:
        return re.search(r"(/portal/sign-in/[\w-]+/)", mailoutbox[-1].body).group(1)

    def sign_in_by_link() -> None:
        page.goto("/login/")
        page.get_by_role("link", name="E-mail me a sign-in link").click()
        page.wait_for_url("**/portal/sign-in/")
        assert_accessible(page)
        page.get_by_label("Your e-mail address").fill("maria.garcia@example.org")
        page.get_by_role("button", name="E-mail me a sign-in link").click()
        expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
        assert_accessible(page)
        send_requested_links(timezone.now())  # the worker's pass that mails the link
        page.goto(mailed_link())
        assert_accessible(page)
        page.get_by_role("button", name="Sign in").click()

    sign_in_by_link()
    page.wait_for_url("**/portal/")
    expect(page.get_by_role("heading", name="Hello, Maria")).to_be_visible()

    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Turn on two-step sign-in")).to_be_visible()
    assert_accessible(page)
    _fits(page, PHONE["width"])
    snap(page, "portal-security-enrol-phone")
    device = TOTPDevice.objects.get(confirmed=False)
    code = str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits))
    page.get_by_label("The 6-digit code the app shows").fill(code.zfill(6))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    assert_accessible(page)
    recovery = page.locator(".recovery-codes code").first.inner_text()
    page.get_by_role("button", name="Sign out").click()

    # The next sign-in by link stops at the code; a recovery code passes it.
    sign_in_by_link()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    assert_accessible(page)
    snap(page, "portal-sign-in-code-phone")
    page.get_by_label("6-digit code (or a recovery code)").fill(recovery)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/portal/")
    expect(page.get_by_role("heading", name="Hello, Maria")).to_be_visible()
    context.close()
