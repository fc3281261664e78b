"""API tokens and enrolment do not get around two-factor once the clinic requires it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.models import ApiToken, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice, drift: int = 0) -> str:
    """The authenticator's code now (drift=1: the next 30-second step's, as a code used once
    for the log-in cannot be used again)."""
    device.refresh_from_db()
    device.throttle_reset()
    key, step, t0, digits = device.bin_key, device.step, device.t0, device.digits
    return f"{totp(key, step=step, t0=t0, digits=digits, drift=drift):06d}"


def _require_two_factor(clinic) -> None:
    clinic.require_two_factor = True
    clinic.save()


@pytest.fixture
def verified_nurse(staff):
    """The nurse, with an enrolled authenticator, logged in with both factors."""
    user = staff["nurse"].user
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    _require_two_factor(staff["nurse"].clinic)
    client = Client()
    client.post("/login/", {"username": "okafor", "password": PASSWORD})
    assert client.post("/account/two-factor/", {"code": _code(device)}).status_code == 302
    return client, device


def test_a_token_needs_a_fresh_code_when_the_clinic_requires_two_factor(verified_nurse):
    client, device = verified_nurse
    page = client.post("/account/tokens/", {"name": "tablet", "otp_code": ""})
    assert "That code is not valid." in page.content.decode()
    assert page.context["form"]["name"].value() == "tablet"  # typed value kept
    assert ApiToken.objects.count() == 0
    page = client.post("/account/tokens/", {"name": "tablet", "otp_code": "000000"})
    assert ApiToken.objects.count() == 0
    used = _code(device)  # the log-in's code: never accepted twice
    page = client.post("/account/tokens/", {"name": "tablet", "otp_code": used})
    assert ApiToken.objects.count() == 0
    page = client.post("/account/tokens/", {"name": "tablet", "otp_code": _code(device, 1)})
    assert page.status_code == 200 and page.context["new_token"].startswith("kc_")
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["tablet"]


def test_without_the_requirement_a_token_needs_no_code(login, staff):
    page = login(staff["nurse"]).post("/account/tokens/", {"name": "tablet"})
    assert page.context["new_token"].startswith("kc_")
    assert "Code from your authenticator" not in page.content.decode()


def test_a_password_alone_cannot_enrol_an_authenticator_once_two_factor_is_required(staff):
    """A thief with the nurse's password must not attach their own phone."""
    _require_two_factor(staff["nurse"].clinic)
    client = Client()
    client.post("/login/", {"username": "okafor", "password": PASSWORD})
    page = client.get("/account/two-factor/")
    assert page.status_code == 403
    assert "Ask an administrator" in page.content.decode()
    assert client.post("/account/two-factor/", {"code": "123456"}).status_code == 403
    assert not TOTPDevice.objects.filter(user=staff["nurse"].user).exists()


def test_an_admin_reset_lets_the_member_enrol_again_within_a_day(login, staff):
    nurse = staff["nurse"]
    TOTPDevice.objects.create(user=nurse.user, name="lost phone", confirmed=True)
    _require_two_factor(nurse.clinic)
    admin = Client()
    admin.force_login(staff["admin"].user)
    TOTPDevice.objects.create(user=staff["admin"].user, name="admin phone", confirmed=True)
    # The admin is verified for this session (django-otp's session key).
    from django_otp import DEVICE_ID_SESSION_KEY

    session = admin.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(name="admin phone").persistent_id
    session.save()
    response = admin.post(f"/staff/{nurse.pk}/two-factor-reset/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=nurse.user).exists()
    client = Client()
    client.post("/login/", {"username": "okafor", "password": PASSWORD})
    assert client.get("/account/two-factor/").status_code == 200  # the QR code
    User.objects.filter(pk=nurse.user.pk).update(
        second_factor_enrolment_until=timezone.now() - timedelta(minutes=1)
    )
    assert client.get("/account/two-factor/").status_code == 403


def test_only_an_admin_resets_and_only_in_their_clinic(login, staff, outsider):
    TOTPDevice.objects.create(user=staff["nurse"].user, name="phone", confirmed=True)
    assert (
        login(staff["physician"]).post(f"/staff/{staff['nurse'].pk}/two-factor-reset/").status_code
        == 403
    )
    assert login(staff["admin"]).post(f"/staff/{outsider.pk}/two-factor-reset/").status_code == 404
    assert TOTPDevice.objects.filter(user=staff["nurse"].user).count() == 1


def test_turning_the_requirement_on_opens_enrolment_for_members_without_one(login, staff):
    response = login(staff["admin"]).post("/staff/settings/", {"require_two_factor": "on"})
    assert response.status_code == 302
    client = Client()
    client.post("/login/", {"username": "okafor", "password": PASSWORD})
    assert client.get("/account/two-factor/").status_code == 200
