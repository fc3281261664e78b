from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.models import ApiToken, Clinic, Membership, hash_token
from ketaclinic.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_add_clinic_and_add_staff_commands(capsys):
    call_command("add_clinic", "harbor", "--name", "Harbor Light", "--timezone", "America/New_York")
    call_command(
        "add_staff",
        "drchen",
        "--clinic",
        "harbor",
        "--role",
        "physician",
        "--password",
        "correct-horse-battery",
    )
    call_command("add_clinic", "north", "--name", "North")
    call_command("add_staff", "drchen", "--clinic", "north", "--role", "admin")
    roles = dict(
        Membership.objects.filter(user__username="drchen").values_list("clinic__slug", "role")
    )
    assert roles == {"harbor": "physician", "north": "admin"}
    assert Clinic.objects.get(slug="harbor").timezone == "America/New_York"


def test_add_staff_refuses_unknown_clinic_and_bad_timezone():
    with pytest.raises(CommandError, match="--clinic"):
        call_command("add_staff", "x", "--clinic", "nowhere", "--role", "nurse")
    with pytest.raises(CommandError, match="--timezone"):
        call_command("add_clinic", "x", "--name", "X", "--timezone", "Mars/Olympus")


def test_create_api_token_prints_the_token_last_and_stores_only_its_hash(staff):
    out = StringIO()
    call_command("create_api_token", "okafor", "--name", "chair tablet", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    assert raw.startswith("kc_")
    token = ApiToken.objects.get(name="chair tablet")
    assert token.digest == hash_token(raw)
    assert raw not in {token.digest, token.hint}
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/v1/patients").status_code == 200
    assert AuditEvent.objects.filter(action="token_use", via_token=token.pk).count() == 1
    call_command("revoke_api_token", str(token.pk), stdout=StringIO())
    assert client.get("/api/v1/patients").status_code == 401


def test_tokens_can_be_listed_and_revoked_through_the_api(api_client, staff):
    client = api_client(staff["nurse"])
    tokens = client.get("/api/v1/tokens").json()
    assert [t["name"] for t in tokens] == ["test"]
    revoked = client.post(f"/api/v1/tokens/{tokens[0]['id']}/revoke")
    assert revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/tokens").status_code == 401


def test_console_script_runs_management_commands():
    result = subprocess.run(
        [sys.executable, "-m", "ketaclinic", "help", "verify_audit"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "tampering" in result.stdout


def test_lockout_after_repeated_failures_is_audited(staff, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "okafor", "password": "wrong"})
    locked = client.post("/login/", {"username": "okafor", "password": "correct-horse-battery"})
    assert locked.status_code == 429
    assert b"locked" in locked.content
    assert AuditEvent.objects.filter(action="lockout", username="okafor").exists()


def test_two_factor_is_required_when_the_clinic_turns_it_on(staff, patient):
    from ketaclinic.accounts.access import Actor
    from ketaclinic.accounts.services import set_two_factor_requirement

    admin = staff["admin"]
    set_two_factor_requirement(
        actor=Actor(user=admin.user, membership=admin), required=True, grace_days=0
    )
    client = Client()
    client.post("/login/", {"username": "okafor", "password": "correct-horse-battery"})
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 302 and response.url == "/account/two-factor/"
    enrol = client.get("/account/two-factor/")
    assert b"<svg" in enrol.content  # the QR code
    device = TOTPDevice.objects.get(user=staff["nurse"].user)
    assert not device.confirmed
    assert client.post("/account/two-factor/", {"code": "000000"}).status_code == 200
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down guessing after a wrong code
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    assert client.post("/account/two-factor/", {"code": f"{code:06d}"}).status_code == 302
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_an_api_session_without_the_second_factor_is_refused(staff, patient):
    clinic = patient.clinic
    clinic.require_two_factor = True
    clinic.save()
    client = Client()
    client.force_login(staff["nurse"].user)
    response = client.get(f"/api/v1/patients/{patient.pk}")
    assert response.status_code == 403
    assert "Two-factor" in response.json()["detail"]


def _logged_in_session(username="okafor"):
    client = Client()
    client.post("/login/", {"username": username, "password": "correct-horse-battery"})
    return client, Session.objects.get(session_key=client.session.session_key)


def test_idle_sessions_end_after_the_configured_minutes(staff, patient, settings):
    assert settings.SESSION_COOKIE_AGE == 15 * 60
    client, session = _logged_in_session()
    assert client.get("/patients/").status_code == 200
    session.refresh_from_db()
    assert session.expire_date > timezone.now() + timedelta(minutes=14)
    # Fifteen idle minutes later the next page asks for the password again.
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_the_boards_poll_does_not_keep_an_unattended_screen_logged_in(staff, settings):
    settings.SESSION_REFRESH_SECONDS = 0  # every page a person opens slides the timeout
    client, session = _logged_in_session()
    client.get("/treatment/board/")
    session.refresh_from_db()
    ends = session.expire_date
    assert client.get("/treatment/board/live/", headers={"X-Poll": "1"}).status_code == 200
    session.refresh_from_db()
    assert session.expire_date == ends  # a poll is not activity
    client.get("/treatment/board/")
    session.refresh_from_db()
    assert session.expire_date > ends  # a person looking is
    # Once the session has ended, the poll sends the whole screen to the log-in page.
    Session.objects.filter(pk=session.pk).delete()
    ended = client.get("/treatment/board/live/", headers={"X-Poll": "1", "HX-Request": "true"})
    assert ended.status_code == 401 and ended["HX-Redirect"].startswith("/login/")


def test_reading_pages_writes_the_session_at_most_once_a_minute(staff, patient):
    client, session = _logged_in_session()
    ends = session.expire_date
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/patients/").status_code == 200
    assert not [q for q in queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    session.refresh_from_db()
    assert session.expire_date == ends
    # A minute later the next page slides the timeout again.
    stored = SessionStore(session_key=session.session_key)
    stored["_active_at"] -= 60
    stored.save()
    client.get("/patients/")
    session.refresh_from_db()
    assert session.expire_date > ends


def test_a_session_write_to_the_api_needs_the_csrf_token(staff, patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff["front_desk"].user)
    response = client.patch(
        f"/api/v1/patients/{patient.pk}", '{"phone": "+1 207 555 0000"}', "application/json"
    )
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.phone != "+1 207 555 0000"


def test_an_admin_cannot_set_the_password_of_an_existing_account(login, staff, outsider):
    """Adding someone who works elsewhere keeps their own password: no account takeover."""
    before = outsider.user.password
    response = login(staff["admin"]).post(
        "/staff/",
        {
            "username": outsider.user.username,
            "first_name": "Priya",
            "last_name": "Nair",
            "role": "nurse",
            "password": "the-admin-chose-this-one",
        },
    )
    assert response.status_code == 302
    outsider.user.refresh_from_db()
    assert outsider.user.password == before
    assert not outsider.user.check_password("the-admin-chose-this-one")
    assert Membership.objects.filter(user=outsider.user, clinic=staff["admin"].clinic).exists()


def test_a_new_account_from_the_staff_page_needs_a_password(login, staff):
    response = login(staff["admin"]).post(
        "/staff/",
        {"username": "newnurse", "first_name": "Ada", "last_name": "Obi", "role": "nurse"},
    )
    assert response.status_code == 200
    assert "A new account needs a temporary password." in response.content.decode()
    assert not Membership.objects.filter(user__username="newnurse").exists()


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/patients/", "/patients/"),
        ("https://evil.example/phish", "/home/"),
        ("//evil.example", "/home/"),
    ],
)
def test_after_two_factor_only_this_site_is_a_destination(staff, target, lands):
    from ketaclinic.accounts.services import open_second_factor_enrolment

    clinic = staff["nurse"].clinic
    clinic.require_two_factor = True
    clinic.save()
    open_second_factor_enrolment(staff["nurse"].user)
    client = Client()
    client.post("/login/", {"username": "okafor", "password": "correct-horse-battery"})
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=staff["nurse"].user)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    response = client.post(f"/account/two-factor/?next={target}", {"code": f"{code:06d}"})
    # Enrolment first shows the one-time recovery codes, whose Continue goes on to `next`.
    assert response.status_code == 302
    assert response.url.startswith("/account/two-factor/recovery-codes/")
    codes_page = client.get(response.url)
    assert codes_page.context["next"] == lands
    assert len(codes_page.context["codes"]) == 10


@pytest.mark.parametrize(
    ("forwarded", "seen"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the left part is the client's to forge
        ("not-an-address", "10.0.0.1"),
    ],
)
def test_behind_the_proxy_the_address_is_the_hop_it_added(settings, forwarded, seen):
    from django.test import RequestFactory

    from ketaclinic.accounts.access import client_ip

    settings.KETACLINIC_TRUST_PROXY = True
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.1")
    assert client_ip(request) == seen


def test_a_member_of_several_clinics_chooses_one(staff, other_clinic, patient):
    from ketaclinic.accounts.services import add_staff

    add_staff(username="okafor", clinic=other_clinic, role="nurse")
    client = Client()
    client.force_login(staff["nurse"].user)
    assert client.get("/patients/").url == "/account/clinic/"
    client.post("/account/clinic/", {"clinic": patient.clinic_id})
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    client.post("/account/clinic/", {"clinic": other_clinic.pk})
    assert client.get(f"/patients/{patient.pk}/").status_code == 404


def test_an_admin_adds_and_removes_staff(login, staff):
    admin = login(staff["admin"])
    response = admin.post(
        "/staff/",
        {
            "username": "newnurse",
            "first_name": "Ada",
            "last_name": "Obi",
            "email": "",
            "role": "nurse",
            "password": "a-long-safe-password",
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="newnurse")
    assert membership.role == "nurse"
    admin.post(f"/staff/{membership.pk}/deactivate/")
    membership.refresh_from_db()
    assert not membership.is_active
    assert AuditEvent.objects.filter(action="deactivate", object_id=str(membership.pk)).exists()


@pytest.mark.parametrize("path", ["/login/", "/_util/login/"])
def test_a_kilobytes_long_username_at_any_login_form_is_refused_plainly(client, path):
    response = client.post(path, {"username": "<script>" + "x" * 10_000, "password": "wrong"})
    assert response.status_code in (200, 403, 429)
    failed = AuditEvent.objects.filter(action="login_failed")
    assert all(len(e.username) <= 150 for e in failed)
