"""The set-up checklist and pages: every form as every role, with valid, empty and hostile input."""

from __future__ import annotations

import io
from datetime import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.audit.models import AuditEvent
from ketaclinic.clinical.dea import with_check_digit
from ketaclinic.inventory.models import Location, Product
from ketaclinic.scheduling.models import (
    ClinicClosure,
    ClinicSchedulingSettings,
    OpeningHours,
    Room,
    StaffException,
    StaffHours,
)
from ketaclinic.setup.checklist import checklist
from tests.conftest import ROLES
from tests.scheduling.conftest import next_monday

pytestmark = pytest.mark.django_db
DEA = with_check_digit("RH123456")
HOSTILE = [
    "\u0000",
    "<script>alert(1)</script>",
    "x" * 10_000,
    "99999999999999999999",
    "9999-12-31",
]


def valid_forms(staff):
    """(url, valid POST data) for every set-up form."""
    nurse = staff["nurse"].pk
    return [
        (
            "/setup/profile/",
            {
                "name": "Harbor Light",
                "address": "1 Quay St",
                "phone": "+1 207 555 0100",
                "timezone": "America/New_York",
                "dea_registration": DEA,
            },
        ),
        ("/setup/rooms/", {"name": "Chair 9", "kind": "treatment_chair", "active": "on"}),
        ("/setup/hours/", {"day_0": "08:00-12:00, 13:00-18:00", "day_2": "08:00-18:00"}),
        ("/setup/closures/", {"starts_on": str(next_monday(2)), "reason": "Training day"}),
        (f"/setup/staff-hours/{nurse}/", {"form": "weekly", "day_0": "08:00-16:00"}),
        (
            f"/setup/staff-hours/{nurse}/",
            {"form": "exception", "day": str(next_monday()), "hours": "", "note": "leave"},
        ),
        ("/setup/scheduling/", {"nurse_capacity": "3", "reminder_hours_before": "24"}),
        ("/setup/inventory/", {"form": "location", "location-name": "Lockbox 2"}),
        (
            "/setup/inventory/",
            {
                "form": "product",
                "product-name": "Ketamine 50 mg/mL",
                "product-substance": "ketamine",
                "product-ndc": "12345-678-90",
                "product-unit": "mL",
                "product-mg_per_unit": "50",
                "product-units_per_container": "10",
            },
        ),
        ("/setup/consent/", {}),
    ]


def state():
    """Everything a set-up form can change, to prove a refused or failed post changed nothing."""
    clinic = Clinic.objects.order_by("pk").values().first()
    return (
        clinic,
        list(Room.objects.values_list("name", "kind", "active")),
        list(OpeningHours.objects.values_list("weekday", "opens", "closes")),
        list(ClinicClosure.objects.values_list("starts_on", "reason")),
        list(StaffHours.objects.values_list("membership_id", "weekday", "starts", "ends")),
        list(StaffException.objects.values_list("day", "note")),
        list(
            ClinicSchedulingSettings.objects.values_list("nurse_capacity", "reminder_hours_before")
        ),
        list(Location.objects.values_list("name", "is_active")),
        list(Product.objects.values_list("name", "is_active")),
        AuditEvent.objects.exclude(action__in=["view", "login"]).count(),
    )


def test_a_new_clinic_starts_with_nothing_ticked_and_its_admin_lands_on_the_checklist(
    clinic, staff, login
):
    # The personas include a physician and a nurse: only the staff step is done.
    assert [s.done for s in checklist(clinic)] == [False, False, False, True, False, False, False]
    client = login(staff["admin"])
    assert client.get("/home/").url == "/setup/"
    page = client.get("/setup/")
    assert page.status_code == 200
    assert [s.title for s in page.context["steps"]] == [
        "Clinic profile",
        "Rooms and chairs",
        "Opening hours",
        "Staff",
        "Staff working hours",
        "Drug products and storage",
        "Consent templates",
    ]
    # Other roles are not sent there: a nurse lands on the chair board.
    assert login(staff["nurse"]).get("/home/").url == "/treatment/board/"


def test_every_set_up_form_ticks_its_step_and_then_home_is_the_patient_list(clinic, staff, login):
    client = login(staff["admin"])
    for url, data in valid_forms(staff):
        response = client.post(url, data)
        assert response.status_code == 302, (url, response.content[:2000])
    client.post("/setup/rooms/", {"name": "Consult A", "kind": "consult_room", "active": "on"})
    for role in ("physician", "therapist"):
        client.post(
            f"/setup/staff-hours/{staff[role].pk}/", {"form": "weekly", "day_1": "09:00-17:00"}
        )
    clinic.refresh_from_db()
    steps = {s.key: s.done for s in checklist(clinic)}
    assert steps == {k: True for k in steps}
    assert client.get("/home/").url == "/patients/"
    assert list(OpeningHours.objects.values_list("weekday", "opens", "closes")) == [
        (0, time(8), time(12)),
        (0, time(13), time(18)),
        (2, time(8), time(18)),
    ]
    clinic.refresh_from_db()
    assert clinic.dea_registration == DEA


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_other_roles_are_refused_every_set_up_form_and_nothing_changes(staff, login, role):
    client = login(staff[role])
    before = state()
    for url, data in valid_forms(staff):
        if url == "/setup/inventory/" and role in ("physician", "nurse"):
            continue  # nurses and physicians register products and storage too
        response = client.post(url, data)
        assert response.status_code == 403, (role, url)
    assert state() == before


def test_empty_posts_name_the_missing_fields_and_change_nothing(staff, login):
    client = login(staff["admin"])
    ClinicSchedulingSettings.objects.create(clinic=staff["admin"].clinic)  # made on first view
    before = state()
    for url, data in valid_forms(staff):
        if url in ("/setup/consent/", "/setup/hours/"):
            continue  # reviewing needs no input; an empty week means "closed every day"
        empty = {"form": data["form"]} if "form" in data else {}
        if data.get("form") == "weekly":
            continue
        response = client.post(url, empty)
        assert response.status_code == 200, url
        names = ("form", "exception_form", "product_form", "location_form")
        forms = [response.context.get(n) for n in names if response.context.get(n) is not None]
        assert any(f.errors for f in forms), url
    assert state() == before


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_input_never_fails_and_never_half_writes(staff, login, value):
    client = login(staff["admin"])
    for url, data in valid_forms(staff):
        for name in [k for k in data if k != "form"]:
            response = client.post(url, {**data, name: value})
            assert response.status_code in (200, 302), (url, name, response.status_code)
    # Only the valid forms may have written; the hostile fields show on the page instead.
    assert (
        not Room.objects.filter(name__contains="<script>").exists()
        or Room.objects.get(name__contains="<script>").name == "<script>alert(1)</script>"
    )


def test_the_profile_refuses_a_bad_dea_number_and_time_zone_on_their_fields(staff, login):
    before = state()
    response = login(staff["admin"]).post(
        "/setup/profile/",
        {"name": "Harbor Light", "timezone": "America/New_York", "dea_registration": "RH1234567"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["dea_registration"] == [
        "This DEA number's check digit is wrong: check it against the invoice."
    ]
    assert state() == before
    bad_zone = login(staff["admin"]).post(
        "/setup/profile/", {"name": "H", "timezone": "Mars/Olympus"}
    )
    assert "timezone" in bad_zone.context["form"].errors


def png(size=(40, 20)):
    data = io.BytesIO()
    Image.new("RGB", size, (11, 107, 107)).save(data, "PNG")
    return data.getvalue()


def test_a_logo_is_uploaded_and_served_to_staff_only(staff, login, settings, tmp_path, outsider):
    settings.MEDIA_ROOT = tmp_path
    response = login(staff["admin"]).post(
        "/setup/profile/",
        {
            "name": "Harbor Light",
            "timezone": "America/New_York",
            "logo": SimpleUploadedFile("l.png", png(), "image/png"),
        },
    )
    assert response.status_code == 302
    served = login(staff["front_desk"]).get("/setup/logo/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert Client().get("/setup/logo/").status_code == 302


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<svg onload=alert(1)>", "The logo must be a PNG, JPEG or WebP image."),
        (b"GIF89a" + b"\0" * 10, "The logo must be a PNG, JPEG or WebP image."),
        (b"\x89PNG" + b"0" * 600_000, "The logo is 585 kB; at most 512 kB."),
    ],
)
def test_a_logo_that_is_not_a_small_image_is_refused(
    staff, login, settings, tmp_path, content, message
):
    settings.MEDIA_ROOT = tmp_path
    response = login(staff["admin"]).post(
        "/setup/profile/",
        {
            "name": "Harbor Light",
            "timezone": "America/New_York",
            "logo": SimpleUploadedFile("l.png", content, "image/png"),
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["logo"] == [message]
    assert not Clinic.objects.get(pk=staff["admin"].clinic_id).logo


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("18:00-08:00", "the end must be after the start"),
        ("08:00-12:00, 11:00-14:00", "overlap"),
        ("25:00-26:00", "not a time of day"),
        ("morning", "not a time range"),
    ],
)
def test_opening_hours_are_validated_per_day(staff, login, text, error):
    response = login(staff["admin"]).post("/setup/hours/", {"day_3": text})
    assert response.status_code == 200
    assert error in response.context["form"].errors["day_3"][0]
    assert OpeningHours.objects.count() == 0


def test_a_room_with_future_bookings_keeps_its_kind(clinic, staff, floor, patient, login):
    from ketaclinic.scheduling import services
    from tests.scheduling.conftest import actor, at

    consult = floor["Consult 1"]
    slot = services.make_slot(
        patient=patient, kind="consultation", room=consult, start=at(clinic, next_monday(), 9)
    )
    services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)
    response = login(staff["admin"]).post(
        f"/setup/rooms/{consult.pk}/",
        {"name": "Consult 1", "kind": "treatment_chair", "active": "on"},
    )
    assert response.status_code == 200
    assert "move them before changing its kind" in response.context["form"].errors["kind"][0]
    consult.refresh_from_db()
    assert consult.kind == "consult_room"
    # Taking it out of use is allowed: the booking stays.
    response = login(staff["admin"]).post(
        f"/setup/rooms/{consult.pk}/", {"name": "Consult 1", "kind": "consult_room"}
    )
    assert response.status_code == 302
    consult.refresh_from_db()
    assert consult.active is False


def test_the_clinic_api_reads_and_patches_the_profile(staff, api_client):
    client = api_client(staff["admin"])
    response = client.patch(
        "/api/v1/clinic",
        {"phone": "+1 207 555 0199", "dea_registration": DEA.lower()},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["phone"], response.json()["dea_registration"]) == (
        "+1 207 555 0199",
        DEA,
    )
    bad = client.patch(
        "/api/v1/clinic", {"timezone": "Nowhere/Else", "name": ""}, content_type="application/json"
    )
    assert bad.status_code == 422
    assert {d["loc"][-1] for d in bad.json()["detail"]} == {"name", "timezone"}
    assert (
        api_client(staff["nurse"])
        .patch("/api/v1/clinic", {"phone": "1"}, content_type="application/json")
        .status_code
        == 403
    )
    assert Clinic.objects.get(pk=staff["admin"].clinic_id).phone == "+1 207 555 0199"


def test_the_rooms_api_edits_and_never_crosses_clinics(staff, api_client, other_clinic):
    from ketaclinic.accounts.services import add_staff

    client = api_client(staff["admin"])
    room = client.post(
        "/api/v1/rooms",
        {"name": "Chair 1", "kind": "treatment_chair"},
        content_type="application/json",
    ).json()
    changed = client.patch(
        f"/api/v1/rooms/{room['id']}",
        {"name": "Window chair", "active": False},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["active"]) == ("Window chair", False)
    theirs = api_client(add_staff(username="adm.n", clinic=other_clinic, role="admin"))
    assert (
        theirs.patch(
            f"/api/v1/rooms/{room['id']}", {"name": "Mine"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert Room.objects.get().name == "Window chair"


def test_the_checklist_api_matches_the_page(staff, api_client):
    body = api_client(staff["admin"]).get("/api/v1/setup/checklist").json()
    assert [(s["key"], s["done"]) for s in body] == [
        (k, k == "staff")
        for k in ("profile", "rooms", "hours", "staff", "staff_hours", "inventory", "consent")
    ]


def test_the_checklist_costs_a_fixed_number_of_queries(
    clinic, staff, django_assert_max_num_queries
):
    for i in range(20):
        Room.objects.create(clinic=clinic, name=f"Chair {i}", kind="treatment_chair")
    with django_assert_max_num_queries(7):
        checklist(clinic)


# --- the platform administrator ---------------------------------------------------------


def test_a_platform_admin_creates_a_clinic_and_its_first_admin(db, django_user_model):
    root = django_user_model.objects.create_superuser(
        "root", "root@example.org", "root-pass-phrase"
    )
    client = Client()
    client.force_login(root)
    response = client.post(
        "/platform/clinics/new/",
        {
            "name": "Bayside Ketamine",
            "slug": "bayside",
            "timezone": "America/Los_Angeles",
            "admin_username": "m.ortiz",
            "admin_first_name": "Maya",
            "admin_last_name": "Ortiz",
            "admin_email": "maya@bayside.example",
        },
    )
    assert response.status_code == 200
    assert "/account/reset/" in response.context["link"]
    member = Membership.objects.get(clinic__slug="bayside")
    assert (member.role, member.user.username, member.clinic.timezone) == (
        "admin",
        "m.ortiz",
        "America/Los_Angeles",
    )
    assert not member.user.has_usable_password()
    assert (
        AuditEvent.objects.filter(action="clinic_created", clinic_id=member.clinic_id).count() == 1
    )
    again = client.post(
        "/platform/clinics/new/",
        {
            "name": "Other",
            "slug": "bayside",
            "timezone": "UTC",
            "admin_username": "x.y",
            "admin_first_name": "X",
            "admin_last_name": "Y",
        },
    )
    assert again.context["form"].errors["slug"] == ["A clinic with this short name exists."]
    assert Clinic.objects.filter(slug="bayside").count() == 1


def test_clinic_staff_cannot_create_clinics(staff, login):
    before = Clinic.objects.count()
    response = login(staff["admin"]).post(
        "/platform/clinics/new/",
        {
            "name": "X",
            "slug": "x",
            "timezone": "UTC",
            "admin_username": "a",
            "admin_first_name": "A",
            "admin_last_name": "B",
        },
    )
    assert response.status_code == 403
    assert Clinic.objects.count() == before


def test_the_schedule_links_to_the_rooms_page_when_there_are_none(staff, login):
    page = login(staff["admin"]).get("/schedule/").content.decode()
    assert "POST /api/v1/rooms" not in page
    assert 'href="/setup/rooms/"' in page


def test_the_consent_review_api_ticks_the_step(clinic, staff, api_client):
    response = api_client(staff["admin"]).post("/api/v1/setup/consent-templates/reviewed")
    assert response.status_code == 200
    assert response.json()["versions"]["esketamine-nasal"] >= 1
    assert {s.key: s.done for s in checklist(clinic)}["consent"] is True
    refused = api_client(staff["nurse"]).post("/api/v1/setup/consent-templates/reviewed")
    assert refused.status_code == 403
    assert AuditEvent.objects.filter(action="consent_templates_reviewed").count() == 1


def test_a_huge_image_is_refused_not_crashed(staff, login, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(data, "PNG")  # small file, 400 megapixels
    response = login(staff["admin"]).post(
        "/setup/profile/",
        {
            "name": "Harbor Light",
            "timezone": "America/New_York",
            "logo": SimpleUploadedFile("bomb.png", data.getvalue(), "image/png"),
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["logo"] == [
        "The logo must be a PNG, JPEG or WebP image."
    ]


@pytest.mark.parametrize("url", ["/setup/staff-hours/", "/staff/", "/setup/rooms/", "/setup/"])
def test_list_pages_cost_the_same_with_more_staff_and_rooms(clinic, staff, login, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ketaclinic.accounts.services import add_staff

    client = login(staff["admin"])
    client.get(url)  # warm the session and the settings row

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    before = queries()
    for i in range(12):
        member = add_staff(username=f"nurse.{i}", clinic=clinic, role="nurse")
        StaffHours.objects.create(
            clinic=clinic, membership=member, weekday=0, starts=time(8), ends=time(16)
        )
        Room.objects.create(clinic=clinic, name=f"Chair {i}", kind="treatment_chair")
    assert queries() == before
