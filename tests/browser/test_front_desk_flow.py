"""The front desk's day in the browser: register, book by clicking a slot, check in; the physician opens it."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from playwright.sync_api import expect

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.services import add_clinic, add_staff
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment
from tests.browser.conftest import PHONE, log_in, log_out, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def mid_morning_zone() -> str:
    """A time zone where it is 10:xx (11:xx at 23:xx UTC) now, so today still has free slots
    at noon; at 23:xx UTC it is UTC-12, the farthest zone there is."""
    offset = max(10 - datetime.now(UTC).hour, -12)
    # Etc/GMT signs are inverted: Etc/GMT-3 is three hours ahead of UTC.
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


@pytest.fixture
def floor(db):
    """A clinic that is set up: rooms, opening hours, staff and their hours (via the services)."""
    clinic = add_clinic(slug="harbor", name="Harbor Light", timezone=mid_morning_zone())
    names = {
        "admin": ("alex", "Alex", "Morgan"),
        "physician": ("drchen", "Lena", "Chen"),
        "nurse": ("okafor", "Grace", "Okafor"),
        "front_desk": ("lee", "Jordan", "Lee"),
    }
    staff = {
        role: add_staff(
            username=u, clinic=clinic, role=role, password=PASSWORD, first_name=f, last_name=la
        )
        for role, (u, f, la) in names.items()
    }
    admin = Actor(user=staff["admin"].user, membership=staff["admin"])
    for name, kind in [
        ("Chair 1", "treatment_chair"),
        ("Chair 2", "treatment_chair"),
        ("Consult A", "consult_room"),
        ("Consult B", "consult_room"),
    ]:
        services.create_room(actor=admin, name=name, kind=kind)
    week = [(day, time(8), time(18)) for day in range(7)]
    services.set_opening_hours(actor=admin, hours=week)
    for role in ("physician", "nurse"):
        services.set_staff_hours(actor=admin, membership=staff[role], hours=week)
    return clinic, staff


def test_front_desk_registers_books_by_slot_and_checks_in_then_the_physician_opens_it(page, floor):
    clinic, staff = floor
    log_in(page, "lee", PASSWORD)
    page.wait_for_url("**/today/")
    expect(page.get_by_text("Nobody is booked today.")).to_be_visible()
    snap(page, "frontdesk-today-empty")

    # Register a new patient.
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Given name").fill("Ingrid")
    page.get_by_label("Family name").fill("Østergaard-Villanueva")
    page.get_by_label("Birth date").fill("1979-02-14")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_label("Email").fill("ingrid@example.org")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/patients/*/")
    expect(page.get_by_role("status")).to_contain_text("Ingrid Østergaard-Villanueva registered")
    patient = Patient.objects.get(clinic=clinic)
    snap(page, "frontdesk-registered")

    # Book a consultation by clicking the noon slot of Consult A on today's board.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedule").click()
    page.wait_for_url("**/schedule/")
    page.get_by_role("link", name="Book Consult A at 12:00").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Start")).to_have_value("12:00")
    expect(dialog.get_by_label("Minutes")).to_have_value("60")
    dialog.get_by_label("Find the patient").fill("Oster")
    dialog.get_by_role("button", name="Østergaard-Villanueva, Ingrid").click()
    expect(dialog.get_by_role("button", name="Change patient")).to_be_visible()
    dialog.get_by_label("With").select_option(label="Lena Chen (physician)")
    expect(dialog.get_by_text("✓ Free")).to_be_visible()
    snap(page, "frontdesk-book-dialog")
    dialog.get_by_role("button", name="Book", exact=True).click()
    expect(dialog).to_contain_text("✓ Booked")
    snap(page, "frontdesk-booked")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    board = page.get_by_role("table")
    expect(board.locator("a.appt-link", has_text="Ingrid Østergaard-Villanueva")).to_be_visible()
    consultation = Appointment.objects.get(patient=patient)
    assert (consultation.kind, consultation.staff, consultation.room.name) == (
        "consultation",
        staff["physician"],
        "Consult A",
    )
    assert "q=" not in page.url and "Oster" not in page.url

    # The same patient at the same time in the other room: refused in place, as the API would.
    page.get_by_role("link", name="Book Consult B at 12:00").click()
    dialog.get_by_label("Find the patient").fill("Oster")
    dialog.get_by_role("button", name="Østergaard-Villanueva, Ingrid").click()
    expect(dialog.get_by_role("button", name="Change patient")).to_be_visible()
    dialog.get_by_label("Minutes").fill("30")
    dialog.get_by_label("Minutes").press("Tab")
    expect(dialog.get_by_text("This booking would be refused")).to_be_visible()
    dialog.get_by_role("button", name="Book", exact=True).click()
    expect(dialog).to_contain_text("⛔ Refused")
    snap(page, "frontdesk-book-conflict")
    dialog.get_by_role("button", name="Cancel").click()
    assert Appointment.objects.filter(patient=patient).count() == 1

    # Check the patient in on Today.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    page.wait_for_url("**/today/")
    row = page.locator(f"#arrival-{consultation.pk}")
    expect(row).to_contain_text("Due")
    row.get_by_role("button", name="Check in").click()
    expect(row).to_contain_text("✓ Arrived")
    expect(row.get_by_role("button", name="Undo check-in")).to_be_visible()
    consultation.refresh_from_db()
    assert consultation.status == "checked_in"
    snap(page, "frontdesk-today-checked-in")

    # The physician lands on their day and opens the consultation.
    log_out(page)
    log_in(page, "drchen", PASSWORD)
    page.wait_for_url("**/my-day/")
    expect(
        page.get_by_role("link", name="Ingrid Østergaard-Villanueva", exact=True)
    ).to_be_visible()
    snap(page, "physician-my-day")
    page.get_by_role("link", name="Open consultation with Ingrid Østergaard-Villanueva").click()
    page.wait_for_url(f"**/screening/patients/{patient.pk}/consultation/")
    snap(page, "physician-consultation")


def test_a_card_dragged_to_another_slot_moves_after_the_same_checks(page, floor):
    clinic, staff = floor
    booked = booked_today(floor, "Tomás", "Ruiz", "follow_up", time(12))
    log_in(page, "lee", PASSWORD)
    page.wait_for_url("**/today/")
    page.goto("/schedule/")
    card = page.locator(f'td[data-move-url="/schedule/appointments/{booked.pk}/move/"]')
    slot = page.locator('td.slot[data-room][data-time="14:00"]').last
    # The HTML5 drag events as a browser sends them (one DataTransfer through the drag).
    carried = page.evaluate_handle("() => new DataTransfer()")
    card.dispatch_event("dragstart", {"dataTransfer": carried})
    slot.dispatch_event("dragover", {"dataTransfer": carried})
    slot.dispatch_event("drop", {"dataTransfer": carried})
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("✓ Moved")
    booked.refresh_from_db()
    local = booked.start.astimezone(clinic.tz)
    assert (local.time(), booked.room.name) == (time(14), "Consult B")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("table").locator("a.appt-link", has_text="Tomás Ruiz")).to_contain_text(
        "14:00"
    )


def booked_today(floor, given: str, family: str, kind: str, at: time) -> Appointment:
    """A new patient booked today in Consult A through the booking service."""
    from ketaclinic.scheduling.models import Room

    clinic, staff = floor
    patient = Patient.objects.create(
        clinic=clinic,
        mrn=f"MRN{Patient.objects.count() + 1:06d}",
        given_name=given,
        family_name=family,
        birth_date=datetime(1985, 6, 1).date(),
        sex_at_birth="female",
    )
    return services.book_appointment(
        actor=Actor(user=staff["front_desk"].user, membership=staff["front_desk"]),
        slot=services.make_slot(
            patient=patient,
            kind=kind,
            room=Room.objects.get(clinic=clinic, name="Consult A"),
            start=datetime.combine(clinic.today(), at, tzinfo=clinic.tz),
        ),
    )


def test_the_day_board_is_a_list_on_a_phone(page, floor):
    booked_today(floor, "Bartholomew-Alexander", "Konstantinopoulos", "consultation", time(15))
    page.set_viewport_size(PHONE)
    log_in(page, "lee", PASSWORD)
    page.wait_for_url("**/today/")
    snap(page, "frontdesk-today-phone")
    page.goto("/schedule/")
    expect(page.get_by_role("table")).to_be_hidden()
    listing = page.get_by_role("list", name="Appointments in time order")
    expect(listing).to_be_visible()
    expect(listing).to_contain_text("Konstantinopoulos")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    # A long name breaks only between words, and is cut (with an ellipsis) rather than split.
    name = listing.locator(".appt-name").first
    style = name.evaluate(
        "el => { const s = getComputedStyle(el);"
        " return [s.overflowWrap, s.wordBreak, s.hyphens, s.overflow]; }"
    )
    assert style == ["normal", "normal", "none", "hidden"]
    snap(page, "schedule-day-phone")


def test_a_change_made_as_the_booking_form_is_swapped_in_is_still_checked(page, floor):
    # htmx wires a swapped-in form's own triggers only when it settles. On a busy tablet
    # (or a fast hand) the "With" choice can land before that; it must still be checked.
    page.set_default_timeout(30_000)  # a shared machine
    clinic, _ = floor
    Patient.objects.create(
        clinic=clinic,
        mrn="MRN000001",
        given_name="Ingrid",
        family_name="Østergaard-Villanueva",
        birth_date=datetime(1979, 2, 14).date(),
        sex_at_birth="female",
    )
    log_in(page, "lee", PASSWORD)
    page.goto("/schedule/")
    page.get_by_role("link", name="Book Consult A at 12:00").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Find the patient").fill("Oster")
    page.evaluate("htmx.config.defaultSettleDelay = 5000")  # hold the settle back
    dialog.get_by_role("button", name="Østergaard-Villanueva, Ingrid").click()
    expect(dialog.get_by_role("button", name="Change patient")).to_be_visible()
    dialog.get_by_label("With").select_option(label="Lena Chen (physician)")
    expect(dialog.get_by_text("✓ Free")).to_be_visible(timeout=4000)
