"""Staff management: usernames as people write them, the password policy, edits, access resets, 2FA."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.accounts.services import add_staff
from ketaclinic.audit.models import AuditEvent
from tests.conftest import PASSWORD, ROLES
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db
User = get_user_model()

NEW = {
    "username": "dr.chen2",
    "first_name": "Lena",
    "last_name": "Chen",
    "email": "lena@harbor.example",
    "role": "physician",
    "password": "a-long-temporary-phrase",
}


def snapshot():
    return (
        list(
            User.objects.order_by("pk").values_list("username", "first_name", "last_name", "email")
        ),
        list(Membership.objects.order_by("pk").values_list("role", "is_active")),
        AuditEvent.objects.exclude(action__in=["login", "view"]).count(),
    )


@pytest.mark.parametrize("username", ["dr.chen2", "nurse.okafor2", "front-desk_1", "lee@harbor"])
def test_usernames_as_people_write_them_are_accepted(staff, login, username):
    response = login(staff["admin"]).post("/staff/", {**NEW, "username": username})
    assert response.status_code == 302, response.content
    member = Membership.objects.get(user__username=username)
    assert (member.role, member.user.get_full_name()) == ("physician", "Lena Chen")
    assert AuditEvent.objects.filter(action="create", object_id=str(member.pk)).exists()


@pytest.mark.parametrize("username", ["dr chen", "<script>", "a/b", "x" * 151, "dr\u0000chen"])
def test_a_bad_username_is_named_on_the_field_and_nothing_is_written(staff, login, username):
    before = snapshot()
    response = login(staff["admin"]).post("/staff/", {**NEW, "username": username})
    assert response.status_code == 200
    assert response.context["form"].errors["username"]
    assert snapshot() == before


def test_a_short_password_shows_the_policy_message_on_the_field(staff, login):
    before = snapshot()
    response = login(staff["admin"]).post("/staff/", {**NEW, "password": "short"})
    assert response.status_code == 200
    assert response.context["form"].errors["password"] == [
        "This password is too short. It must contain at least 8 characters."
    ]
    assert response.context["form"]["username"].value() == "dr.chen2"
    assert snapshot() == before


def test_the_api_refuses_a_short_password_naming_the_field(staff, api_client):
    response = api_client(staff["admin"]).post(
        "/api/v1/staff", {**NEW, "password": "password"}, content_type="application/json"
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["loc"][-1] for d in detail] == ["password"]
    assert "too common" in detail[0]["msg"]
    assert not User.objects.filter(username="dr.chen2").exists()


def test_the_api_adds_lists_and_edits_staff(staff, api_client):
    client = api_client(staff["admin"])
    created = client.post("/api/v1/staff", NEW, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in ("username", "role", "active")} == {
        "username": "dr.chen2",
        "role": "physician",
        "active": True,
    }
    changed = client.patch(
        f"/api/v1/staff/{body['id']}", {"role": "nurse"}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["role"] == "nurse"
    listed = client.get("/api/v1/staff").json()
    assert len(listed) == 7  # one member per staff role (biller and editor too), and the new one
    assert Membership.objects.get(pk=body["id"]).role == "nurse"


def test_an_admin_edits_names_and_role(staff, login):
    member = staff["front_desk"]
    response = login(staff["admin"]).post(
        f"/staff/{member.pk}/",
        {
            "first_name": "Jordan",
            "last_name": "Lee-Park",
            "email": "j@harbor.example",
            "role": "nurse",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    member.user.refresh_from_db()
    assert (member.role, member.user.last_name, member.user.email) == (
        "nurse",
        "Lee-Park",
        "j@harbor.example",
    )
    event = AuditEvent.objects.filter(action="update", object_id=str(member.pk)).get()
    assert event.detail["fields"] == ["email", "last_name", "role"]


def test_an_admin_cannot_change_their_own_role(staff, login):
    admin = staff["admin"]
    response = login(admin).post(
        f"/staff/{admin.pk}/",
        {"first_name": "Alex", "last_name": "Morgan", "email": "", "role": "nurse"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["role"] == ["You cannot change your own role."]
    admin.refresh_from_db()
    assert admin.role == "admin"


def test_the_name_of_an_account_shared_with_another_clinic_is_not_changed(
    staff, login, other_clinic
):
    shared = add_staff(username="okafor", clinic=other_clinic, role="nurse")
    assert shared.user_id == staff["nurse"].user_id
    response = login(staff["admin"]).post(
        f"/staff/{staff['nurse'].pk}/",
        {"first_name": "Someone", "last_name": "Else", "email": "", "role": "nurse"},
    )
    assert response.status_code == 200
    assert "another clinic" in response.context["form"].errors["first_name"][0]
    assert User.objects.get(username="okafor").first_name == "Grace"


def test_removing_access_revokes_tokens_in_one_step(staff, login):
    nurse = staff["nurse"]
    token, _ = ApiToken.issue(nurse, name="tablet")
    response = login(staff["admin"]).post(f"/staff/{nurse.pk}/deactivate/")
    assert response.status_code == 302
    nurse.refresh_from_db()
    token.refresh_from_db()
    assert nurse.is_active is False and token.revoked_at is not None
    assert AuditEvent.objects.filter(action="deactivate", object_id=str(nurse.pk)).count() == 1
    back = login(staff["admin"]).post(f"/staff/{nurse.pk}/reactivate/")
    assert back.status_code == 302
    nurse.refresh_from_db()
    assert nurse.is_active is True


def test_the_password_reset_link_lets_the_person_choose_a_password(
    staff, login, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.KETACLINIC_BASE_URL = "https://clinic.example"
    lee = staff["front_desk"]
    lee.user.email = "lee@harbor.example"
    lee.user.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(staff["admin"]).post(f"/staff/{lee.pk}/password-reset/")
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["lee@harbor.example"]]
    link = re.search(r"https://clinic\.example(/account/reset/\S+)", mailoutbox[0].body)[1]
    anonymous = Client()
    form_page = anonymous.get(link, follow=True)
    assert form_page.status_code == 200 and form_page.context["validlink"]
    saved = anonymous.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "harbor-light-new-phrase", "new_password2": "harbor-light-new-phrase"},
    )
    assert saved.status_code == 302
    lee.user.refresh_from_db()
    assert lee.user.check_password("harbor-light-new-phrase")
    assert AuditEvent.objects.filter(action="password_reset_sent").count() == 1


def test_a_reset_link_needs_an_email_address(staff, login, mailoutbox):
    response = login(staff["admin"]).post(
        f"/staff/{staff['nurse'].pk}/password-reset/", follow=True
    )
    assert "Add an e-mail address first" in response.content.decode()
    assert mailoutbox == []


def test_unlock_lets_a_locked_out_member_log_in_again(staff, login, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/login/", {"username": "okafor", "password": "wrong"})
    assert Client().post("/login/", {"username": "okafor", "password": PASSWORD}).status_code == 429
    response = login(staff["admin"]).post(f"/staff/{staff['nurse'].pk}/unlock/", follow=True)
    assert "Grace Okafor can log in again." in response.content.decode()
    assert Client().post("/login/", {"username": "okafor", "password": PASSWORD}).status_code == 302
    assert AuditEvent.objects.filter(action="unlock").count() == 1


def test_resetting_two_factor_removes_the_device_and_recovery_codes(staff, login):
    user = staff["nurse"].user
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    response = login(staff["admin"]).post(f"/staff/{staff['nurse'].pk}/two-factor-reset/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="two_factor_reset").count() == 1


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
@pytest.mark.parametrize(
    "path", ["", "password-reset/", "unlock/", "two-factor-reset/", "deactivate/", "reactivate/"]
)
def test_other_roles_change_nothing(staff, login, role, path):
    target = staff["therapist" if role != "therapist" else "nurse"]
    client = login(staff[role])
    with nothing_changed(User, Membership, ApiToken):
        response = client.post(
            f"/staff/{target.pk}/{path}",
            {"first_name": "X", "last_name": "Y", "email": "", "role": "admin"},
        )
        assert response.status_code == 403


def test_another_clinics_member_is_not_found(staff, login, outsider):
    client = login(staff["admin"])
    with nothing_changed(User, Membership, ApiToken):
        for path in ("", "unlock/", "deactivate/"):
            assert client.post(f"/staff/{outsider.pk}/{path}").status_code == 404
    outsider.refresh_from_db()
    assert outsider.is_active


@pytest.mark.parametrize(
    "value", ["", "\u0000", "<script>alert(1)</script>", "x" * 10_000, "9999-12-31"]
)
def test_hostile_input_on_the_staff_forms_never_fails(staff, login, value):
    client = login(staff["admin"])
    fields = ("username", "first_name", "last_name", "email", "role", "password")
    for name in fields:
        response = client.post("/staff/", {**NEW, name: value})
        assert response.status_code in (200, 302), (name, response.status_code)
    for name in ("first_name", "last_name", "email", "role"):
        response = client.post(
            f"/staff/{staff['nurse'].pk}/",
            {"first_name": "G", "last_name": "O", "email": "", "role": "nurse", name: value},
        )
        assert response.status_code in (200, 302), (name, response.status_code)
    assert not Membership.objects.filter(role="admin").exclude(pk=staff["admin"].pk).exists()


# --- two-factor enrolment and the grace period ------------------------------------------


def require_two_factor(clinic, days_ago=0, grace=7):
    clinic.require_two_factor = True
    clinic.two_factor_grace_days = grace
    clinic.two_factor_required_since = timezone.now() - timedelta(days=days_ago)
    clinic.save()


def test_enrolment_shows_the_manual_key_and_one_time_recovery_codes(staff, login):
    client = login(staff["nurse"])
    page = client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=staff["nurse"].user)
    from base64 import b32encode

    key = b32encode(device.bin_key).decode()
    assert page.context["manual_key"].replace(" ", "") == key
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    done = client.post("/account/two-factor/", {"code": f"{code:06d}"})
    codes = client.get(done.url).context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert StaticToken.objects.filter(device__user=staff["nurse"].user).count() == 10
    # Shown once: the page no longer has them.
    assert client.get(done.url).context["codes"] == []


def test_a_recovery_code_logs_in_once(staff, clinic):
    from ketaclinic.accounts.two_factor import issue_recovery_codes

    require_two_factor(clinic)
    TOTPDevice.objects.create(user=staff["nurse"].user, name="phone", confirmed=True)
    code = issue_recovery_codes(staff["nurse"].user)[0]
    first = Client()
    first.post("/login/", {"username": "okafor", "password": PASSWORD})
    assert first.post("/account/two-factor/", {"code": code}).status_code == 302
    assert first.get("/patients/").status_code == 200
    second = Client()
    second.post("/login/", {"username": "okafor", "password": PASSWORD})
    assert second.post("/account/two-factor/", {"code": code}).status_code == 200
    assert second.get("/patients/").status_code == 302


def test_requiring_two_factor_leaves_a_grace_period_with_a_reminder(staff, clinic, login):
    require_two_factor(clinic, days_ago=2, grace=7)
    client = Client()
    client.post("/login/", {"username": "okafor", "password": PASSWORD})
    page = client.get("/patients/")
    assert page.status_code == 200
    assert "requires two-factor log-in" in page.content.decode()


def test_after_the_grace_period_enrolment_is_required(staff, clinic):
    require_two_factor(clinic, days_ago=8, grace=7)
    client = Client()
    client.post("/login/", {"username": "okafor", "password": PASSWORD})
    response = client.get("/patients/")
    assert response.status_code == 302 and response.url.startswith("/account/two-factor/")


def test_someone_with_a_device_confirms_it_even_in_the_grace_period(staff, clinic):
    require_two_factor(clinic, days_ago=0, grace=7)
    TOTPDevice.objects.create(user=staff["nurse"].user, name="phone", confirmed=True)
    client = Client()
    client.post("/login/", {"username": "okafor", "password": PASSWORD})
    assert client.get("/patients/").status_code == 302


def test_the_security_form_starts_the_grace_period(staff, clinic, login):
    response = login(staff["admin"]).post(
        "/staff/settings/", {"require_two_factor": "on", "grace_days": "3"}
    )
    assert response.status_code == 302
    clinic.refresh_from_db()
    assert (clinic.require_two_factor, clinic.two_factor_grace_days) == (True, 3)
    assert timezone.now() - clinic.two_factor_required_since < timedelta(minutes=1)
    bad = login(staff["admin"]).post(
        "/staff/settings/", {"require_two_factor": "on", "grace_days": "99"}
    )
    assert bad.status_code == 302
    clinic.refresh_from_db()
    assert clinic.two_factor_grace_days == 3
