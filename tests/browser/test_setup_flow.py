"""From `add_clinic` and one admin to a set-up clinic, in the browser only (tablet size)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.clinical.dea import with_check_digit
from ketaclinic.scheduling.models import OpeningHours, Room, StaffHours
from tests.browser.conftest import log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ADMIN_PASSWORD = "bayside-admin-phrase"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@pytest.fixture
def new_clinic(db):
    quiet = open("/dev/null", "w")  # noqa: SIM115
    call_command("add_clinic", "bayside", name="Bayside Ketamine", stdout=quiet)
    call_command(
        "add_staff",
        "m.ortiz",
        clinic="bayside",
        role="admin",
        password=ADMIN_PASSWORD,
        first_name="Maya",
        last_name="Ortiz",
        stdout=quiet,
    )


def add_room(page, name, kind):
    page.get_by_label("Name").fill(name)
    page.get_by_label("Kind").select_option(label=kind)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()


def add_person(page, username, first, last, role):
    page.get_by_label("Username").fill(username)
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Role").select_option(label=role)
    page.get_by_label("Password").fill("temporary-" + username)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"{first} {last} added as {role}")


def set_week(page, hours):
    for day in WEEKDAYS:
        page.get_by_label(day, exact=True).fill(hours)


def test_an_admin_sets_up_a_new_clinic_in_the_browser(page, new_clinic):
    log_in(page, "m.ortiz", ADMIN_PASSWORD)
    page.wait_for_url("**/setup/")
    expect(page.get_by_role("heading", name="Clinic set-up")).to_be_visible()
    snap(page, "setup-1-checklist-new")

    # The clinic's profile.
    page.get_by_role("link", name="Clinic profile").click()
    page.get_by_label("Address").fill("12 Harbor Road\nPortland, ME 04101")
    page.get_by_label("Phone").fill("+1 207 555 0100")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_label("DEA registration").fill("RH1234567")
    snap(page, "setup-2-profile")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator(".field .error")).to_contain_text("check digit is wrong")
    snap(page, "setup-2-profile-error")
    page.get_by_label("DEA registration").fill(with_check_digit("RH123456"))
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_url("**/setup/")

    # Two chairs and a consult room.
    page.get_by_role("link", name="Rooms and chairs").click()
    add_room(page, "Chair 1", "Treatment chair")
    add_room(page, "Chair 2", "Treatment chair")
    add_room(page, "Consult A", "Consult room")
    snap(page, "setup-3-rooms")
    page.get_by_role("link", name="← Clinic set-up").click()

    # Opening hours, Monday to Friday.
    page.get_by_role("link", name="Opening hours").click()
    set_week(page, "08:00-18:00")
    page.get_by_label("Saturday").fill("18:00-09:00")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field .error")).to_contain_text("the end must be after the start")
    page.get_by_label("Saturday").fill("")
    snap(page, "setup-4-hours")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/setup/")

    # A physician, a nurse and the front desk.
    page.get_by_role("link", name="Staff", exact=False).first.click()
    page.wait_for_url("**/staff/")
    page.get_by_label("Username").fill("dr.chen")
    page.get_by_label("First name").fill("Lena")
    page.get_by_label("Last name").fill("Chen")
    page.get_by_label("Role").select_option(label="Physician")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".field .error")).to_contain_text("This password is too short")
    expect(page.get_by_label("Username")).to_have_value("dr.chen")
    snap(page, "setup-5-staff-password-policy")
    add_person(page, "dr.chen", "Lena", "Chen", "Physician")
    add_person(page, "nurse.okafor", "Grace", "Okafor", "Nurse")
    add_person(page, "frontdesk.lee", "Jordan", "Lee", "Front desk")
    snap(page, "setup-5-staff")
    page.get_by_role("link", name="Lena Chen").click()
    expect(page.get_by_role("button", name="Unlock log-in")).to_be_visible()
    snap(page, "setup-5-staff-edit")

    # Working hours for each of them.
    page.goto("/setup/staff-hours/")
    snap(page, "setup-6-staff-hours-empty")
    for name in ("Lena Chen", "Grace Okafor", "Jordan Lee"):
        page.get_by_role("link", name=name).click()
        set_week(page, "08:00-17:00")
        if name == "Grace Okafor":
            snap(page, "setup-6-staff-hours-edit")
        page.get_by_role("button", name="Save hours").click()
        page.wait_for_url("**/setup/staff-hours/")
    snap(page, "setup-6-staff-hours")

    # Closed on a coming day, with its reason.
    page.goto("/setup/closures/")
    closed_on = Clinic.objects.get(slug="bayside").today() + timedelta(days=30)
    page.get_by_label("First day closed").fill(closed_on.isoformat())
    page.get_by_label("Reason").fill("Staff training")
    page.get_by_role("button", name="Close these days").click()
    expect(page.get_by_role("cell", name="Staff training")).to_be_visible()
    snap(page, "setup-6-closures")

    # A product and a storage location for the ledger.
    page.goto("/setup/")
    page.get_by_role("link", name="Drug products and storage").click()
    product = page.locator("form", has=page.get_by_role("button", name="Add product"))
    product.get_by_label("Name").fill("Ketamine 50 mg/mL, 10 mL vial")
    product.get_by_label("Substance").select_option("ketamine")
    product.get_by_label("NDC").fill("12345-678-90")
    page.locator("#id_product-unit").select_option("mL")
    product.get_by_label("mg per unit").fill("50")
    product.get_by_label("Units per container").fill("10")
    product.get_by_role("button", name="Add product").click()
    location = page.locator("form", has=page.get_by_role("button", name="Add location"))
    location.get_by_label("Name").fill("Treatment room lockbox")
    location.get_by_role("button", name="Add location").click()
    # The main safe is always the first location; the lockbox joins it.
    expect(page.get_by_role("cell", name="Main safe")).to_be_visible()
    expect(page.get_by_role("cell", name="Treatment room lockbox")).to_be_visible()
    snap(page, "setup-7-inventory")

    # The consent templates, read and marked as reviewed.
    page.goto("/setup/")
    page.get_by_role("link", name="Consent templates").click()
    page.locator("details.consent-template summary").first.click()
    snap(page, "setup-8-consent")
    page.get_by_role("button", name="I have reviewed these templates").click()
    page.wait_for_url("**/setup/")

    expect(page.locator(".checklist li.todo")).to_have_count(0)
    expect(page.locator(".checklist li.done")).to_have_count(7)
    expect(page.get_by_text("✓ All set")).to_be_visible()
    snap(page, "setup-9-checklist-complete")

    # The clinic is set up as the admin saw it.
    assert sorted(Room.objects.filter(clinic__slug="bayside").values_list("name", "kind")) == [
        ("Chair 1", "treatment_chair"),
        ("Chair 2", "treatment_chair"),
        ("Consult A", "consult_room"),
    ]
    assert OpeningHours.objects.filter(clinic__slug="bayside").count() == 5
    roles = dict(
        Membership.objects.filter(clinic__slug="bayside").values_list("user__username", "role")
    )
    assert roles == {
        "m.ortiz": "admin",
        "dr.chen": "physician",
        "nurse.okafor": "nurse",
        "frontdesk.lee": "front_desk",
    }
    assert StaffHours.objects.filter(clinic__slug="bayside").count() == 15

    # Home is now the patient list, and set-up stays in the account menu.
    page.goto("/home/")
    page.wait_for_url("**/patients/")
    page.locator("details.account summary").click()
    expect(page.get_by_role("link", name="Clinic set-up")).to_be_visible()

    # Two-factor enrolment shows the key to type in beside the QR code.
    page.goto("/account/two-factor/")
    expect(page.locator(".manual-key code")).to_have_text(re.compile(r"^[A-Z2-7 ]{32,}$"))
    snap(page, "setup-10-two-factor-enrol")
