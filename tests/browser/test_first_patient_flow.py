"""Issue 10's "done means", in one go: from `add_clinic` and one admin to the first consultation.

Only the first two lines use the command line (as a platform operator does); everything
after is clicked in the browser at tablet size: the admin sets the clinic up (profile,
two chairs, a consult room, hours, a physician, a nurse and a front-desk user with their
hours), the front desk registers a patient, books a consultation by clicking a slot and
checks the patient in, and the physician opens the consultation.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from ketaclinic.clinical.dea import with_check_digit
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment
from tests.browser.conftest import log_in, log_out, snap
from tests.browser.test_front_desk_flow import mid_morning_zone
from tests.browser.test_setup_flow import add_person, add_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)  # a loaded machine; the assertions are unchanged
ADMIN_PASSWORD = "lighthouse-admin-phrase"
EVERY_DAY = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@pytest.fixture
def fresh_clinic(db):
    quiet = open("/dev/null", "w")  # noqa: SIM115
    call_command("add_clinic", "lighthouse", name="Lighthouse Ketamine", stdout=quiet)
    call_command(
        "add_staff",
        "a.silva",
        clinic="lighthouse",
        role="admin",
        password=ADMIN_PASSWORD,
        first_name="Ana",
        last_name="Silva",
        stdout=quiet,
    )


def every_day(page, hours: str) -> None:
    # Open every day, so that "today" is open whichever weekday the test runs on.
    for day in EVERY_DAY:
        page.get_by_label(day, exact=True).fill(hours)


def test_from_add_clinic_to_the_physician_opening_the_first_consultation(page, fresh_clinic):
    page.set_default_timeout(30_000)  # a long flow on a shared machine
    zone = mid_morning_zone()  # it is 10:xx there now, so noon today is still free

    # --- The admin sets the clinic up. -------------------------------------------------
    log_in(page, "a.silva", ADMIN_PASSWORD)
    page.wait_for_url("**/setup/")
    snap(page, "first-1-checklist")
    page.get_by_role("link", name="Clinic profile").click()
    page.get_by_label("Address").fill("3 Pier Street\nPortland, ME 04101")
    page.get_by_label("Phone").fill("+1 207 555 0199")
    page.get_by_label("Time zone").select_option(zone)
    page.get_by_label("DEA registration").fill(with_check_digit("RL765432"))
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_url("**/setup/")

    page.get_by_role("link", name="Rooms and chairs").click()
    add_room(page, "Chair 1", "Treatment chair")
    add_room(page, "Chair 2", "Treatment chair")
    add_room(page, "Consult A", "Consult room")
    page.get_by_role("link", name="← Clinic set-up").click()

    page.get_by_role("link", name="Opening hours").click()
    every_day(page, "08:00-18:00")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/setup/")

    page.get_by_role("link", name="Staff", exact=False).first.click()
    page.wait_for_url("**/staff/")
    add_person(page, "dr.osei", "Kwame", "Osei", "Physician")
    add_person(page, "nurse.park", "Min-jun", "Park", "Nurse")
    add_person(page, "desk.moreau", "Claire", "Moreau", "Front desk")
    snap(page, "first-2-staff")

    page.goto("/setup/staff-hours/")
    for name in ("Kwame Osei", "Min-jun Park", "Claire Moreau"):
        page.get_by_role("link", name=name).click()
        every_day(page, "08:00-18:00")
        page.get_by_role("button", name="Save hours").click()
        page.wait_for_url("**/setup/staff-hours/")
    snap(page, "first-3-staff-hours")
    # The clinic's own consent text: a copy of the shipped one, saved as the next version.
    page.goto("/setup/consent/")
    snap(page, "first-4-consent-list")
    page.locator('a[href="/setup/consent/ketamine-iv-mood/"]').click()
    snap(page, "first-4-consent-edit")
    page.get_by_role("button", name="Make a clinic copy (text unchanged)").click()
    expect(page.get_by_role("status")).to_contain_text("is now the one patients sign")
    page.goto("/setup/")
    snap(page, "first-4-checklist-after")
    log_out(page)

    # --- The front desk registers the patient and books the consultation. ----------------
    log_in(page, "desk.moreau", "temporary-desk.moreau")
    page.wait_for_url("**/today/")
    expect(page.get_by_text("Nobody is booked today.")).to_be_visible()
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Given name").fill("Søren")
    page.get_by_label("Family name").fill("Abernathy-Quiñones")
    page.get_by_label("Birth date").fill("1986-09-30")
    page.get_by_label("Sex at birth").select_option("male")
    page.get_by_label("Email").fill("soren@example.org")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/patients/*/")
    expect(page.get_by_role("status")).to_contain_text("Søren Abernathy-Quiñones registered")
    patient = Patient.objects.get(clinic__slug="lighthouse")
    # The front desk sends the intake form from the chart (no clinical panel for them).
    page.get_by_role("button", name="E-mail the link").first.click()
    expect(page.get_by_role("status")).to_contain_text("E-mailed to soren@example.org")
    snap(page, "first-5-intake-link-sent")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedule").click()
    page.wait_for_url("**/schedule/")
    page.get_by_role("link", name="Book Consult A at 12:00").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Start")).to_have_value("12:00")
    dialog.get_by_label("Find the patient").fill("Abern")
    dialog.get_by_role("button", name="Abernathy-Quiñones, Søren").click()
    expect(dialog.get_by_role("button", name="Change patient")).to_be_visible()
    dialog.get_by_label("With").select_option(label="Kwame Osei (physician)")
    expect(dialog.get_by_text("✓ Free")).to_be_visible()
    snap(page, "first-6-book")
    dialog.get_by_role("button", name="Book", exact=True).click()
    expect(dialog).to_contain_text("✓ Booked")
    dialog.get_by_role("button", name="Close").click()
    consultation = Appointment.objects.get(patient=patient)
    assert (consultation.kind, consultation.room.name) == ("consultation", "Consult A")
    assert consultation.staff.user.username == "dr.osei"

    # Moved by keyboard from the board: Tab to the card's Move button, Enter.
    move = page.get_by_role("table").get_by_role("link", name="Move Søren Abernathy-Quiñones")
    move.focus()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("heading", name="Move an appointment")).to_be_visible()
    dialog.get_by_label("Start").fill("12:30")
    dialog.get_by_role("button", name="Move", exact=True).click()
    expect(dialog).to_contain_text("✓ Moved")
    snap(page, "first-7-moved-by-keyboard")
    dialog.get_by_role("button", name="Close").click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    row = page.locator(f"#arrival-{consultation.pk}")
    row.get_by_role("button", name="Check in").click()
    expect(row).to_contain_text("✓ Arrived")
    snap(page, "first-8-checked-in")
    log_out(page)

    # --- The physician opens the consultation. ---------------------------------------------
    log_in(page, "dr.osei", "temporary-dr.osei")
    page.wait_for_url("**/my-day/")
    page.get_by_role("link", name="Open consultation with Søren Abernathy-Quiñones").click()
    page.wait_for_url(f"**/screening/patients/{patient.pk}/consultation/")
    expect(page.locator(".patient-header")).to_contain_text("Søren Abernathy-Quiñones")
    snap(page, "first-9-physician-consultation")
    # Asked at the consultation: no allergies. The header says so instead of "not recorded".
    page.goto(f"/patients/{patient.pk}/")
    expect(page.locator(".patient-header")).to_contain_text("? Allergies not recorded")
    page.get_by_role("button", name="No known allergies (NKDA)").click()
    expect(page.locator(".patient-header")).to_contain_text("✓ No known allergies")
    snap(page, "first-10-nkda")
    consultation.refresh_from_db()
    assert consultation.status == "checked_in"
