"""Portal accounts: the staff invitation, the password, where a patient may and may not go."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.models import ApiToken, Membership, User
from ketaclinic.audit.models import AuditEvent
from ketaclinic.portal.models import PortalAccount, PortalInvite
from tests.portal.conftest import PATIENT_PASSWORD

pytestmark = pytest.mark.django_db

# Pages that do not all go through the same door: the role table's, the landing, search.
STAFF_PAGES = [
    "patient_search",
    "schedule_day",
    "schedule_today",
    "treatment_board",
    "integration_home",
    "staff",
    "audit_log",
    "tokens",
    "message_inbox",
    "outcomes_dashboard",
    "setup_home",
]
STAFF_API = [
    ("get", "/api/v1/patients"),
    ("get", "/api/v1/patients/{patient_id}"),
    ("get", "/api/v1/messages"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/patients/{patient_id}/portal-invite"),
]


def test_staff_invite_through_the_api_creates_the_account_and_mails_a_72_hour_link(
    staff, portal_patient, api_client
):
    before = timezone.now()
    response = api_client(staff["front_desk"]).post(
        f"/api/v1/patients/{portal_patient.pk}/portal-invite"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "maria.garcia@example.org"
    expires = PortalInvite.objects.get().expires_at
    assert timedelta(hours=71, minutes=59) < expires - before <= timedelta(hours=72, minutes=1)
    account = PortalAccount.objects.get(patient=portal_patient)
    assert (
        account.membership.role == "patient"
        and account.membership.clinic_id == portal_patient.clinic_id
    )
    assert not account.user.has_usable_password()
    [message] = mail.outbox
    assert message.to == ["maria.garcia@example.org"]
    assert "/portal/invite/" in message.body
    assert "Garcia" not in message.body and "MRN" not in message.body


def test_the_therapist_may_not_invite_and_nothing_is_created(staff, portal_patient, api_client):
    response = api_client(staff["therapist"]).post(
        f"/api/v1/patients/{portal_patient.pk}/portal-invite"
    )
    assert response.status_code == 403
    assert not PortalAccount.objects.exists() and not mail.outbox


def test_a_patient_without_an_email_cannot_be_invited(staff, patient, api_client):
    response = api_client(staff["nurse"]).post(f"/api/v1/patients/{patient.pk}/portal-invite")
    assert response.status_code == 422
    assert not PortalAccount.objects.exists()


def test_an_email_that_names_a_staff_account_is_refused(staff, portal_patient, api_client):
    User.objects.filter(pk=staff["nurse"].user.pk).update(username="maria.garcia@example.org")
    response = api_client(staff["front_desk"]).post(
        f"/api/v1/patients/{portal_patient.pk}/portal-invite"
    )
    assert response.status_code == 422
    assert not PortalAccount.objects.exists()


def test_another_clinics_patient_cannot_be_invited(outsider, portal_patient, api_client):
    response = api_client(outsider).post(f"/api/v1/patients/{portal_patient.pk}/portal-invite")
    assert response.status_code == 404
    assert not PortalAccount.objects.exists()


def _invite_link(client_api, staff, patient) -> str:
    client_api(staff["front_desk"]).post(f"/api/v1/patients/{patient.pk}/portal-invite")
    return re.search(r"(/portal/invite/[^/\s]+/)", mail.outbox[-1].body).group(1)


def test_the_patient_sets_a_password_once_then_signs_in_and_lands_on_the_portal(
    staff, portal_patient, api_client
):
    link = _invite_link(api_client, staff, portal_patient)
    browser = Client()
    assert browser.get(link).status_code == 200
    weak = browser.post(link, {"password": "short", "confirm": "short"})
    assert weak.status_code == 422
    assert not PortalAccount.objects.get().user.has_usable_password()
    done = browser.post(link, {"password": PATIENT_PASSWORD, "confirm": PATIENT_PASSWORD})
    assert done.status_code == 302
    assert browser.get(link).status_code == 404  # single use
    assert (
        browser.post(
            "/login/", {"username": "maria.garcia@example.org", "password": PATIENT_PASSWORD}
        ).status_code
        == 302
    )
    assert browser.get("/home/").url == "/portal/"
    assert browser.get("/portal/").status_code == 200
    event = AuditEvent.objects.filter(action="portal_password_set").get()
    assert event.role == "patient" and event.patient_id == portal_patient.pk


def test_an_expired_invitation_does_not_work(staff, portal_patient, api_client):
    link = _invite_link(api_client, staff, portal_patient)
    PortalInvite.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().post(link, {"password": PATIENT_PASSWORD, "confirm": PATIENT_PASSWORD})
    assert response.status_code == 404
    assert not PortalAccount.objects.get().user.has_usable_password()


@pytest.mark.parametrize("hostile", ["", "x" * 5000, "<script>alert(1)</script>", "\x00abc"])
def test_hostile_passwords_never_break_the_page(staff, portal_patient, api_client, hostile):
    link = _invite_link(api_client, staff, portal_patient)
    response = Client().post(link, {"password": hostile, "confirm": hostile})
    assert response.status_code in (302, 422)
    if response.status_code == 422:
        assert b"<script>alert(1)</script>" not in response.content


def test_a_patient_is_refused_every_staff_page(account, portal_patient, patient_client):
    for name in STAFF_PAGES:
        assert patient_client.get(reverse(name)).status_code == 403, name
    chart = reverse("patient_chart", args=[portal_patient.pk])
    assert patient_client.get(chart).status_code == 403
    assert patient_client.get("/home/").url == "/portal/"
    assert patient_client.get("/account/clinic/").status_code == 302


def test_a_patient_session_and_token_are_refused_every_staff_api_route(
    account, portal_patient, patient_client
):
    _, raw = ApiToken.issue(account.membership, name="phone")
    token_client = Client(headers={"Authorization": f"Bearer {raw}"})
    for method, url in STAFF_API:
        url = url.format(patient_id=portal_patient.pk)
        for client in (patient_client, token_client):
            response = getattr(client, method)(url, content_type="application/json")
            assert response.status_code == 403, (method, url)
    assert PortalInvite.objects.count() == 1  # the patient's own POST invited nobody
    assert token_client.get("/api/v1/portal/me").json()["username"] == "maria.garcia@example.org"


def test_staff_are_refused_the_portal_pages_and_api(staff, account, login, api_client):
    for role, member in staff.items():
        assert login(member).get("/portal/").status_code == 403, role
        assert api_client(member).get("/api/v1/portal/me").status_code == 403, role


def test_create_api_token_works_for_a_patient_account(account):
    out = StringIO()
    call_command("create_api_token", account.user.username, stdout=out)
    raw = re.search(r"kc_[\w-]+", out.getvalue()).group(0)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/v1/portal/appointments").status_code == 200
    assert client.get("/api/v1/patients").status_code == 403


def test_a_deactivated_portal_account_reaches_nothing(account, patient_client):
    Membership.objects.filter(pk=account.membership_id).update(is_active=False)
    assert patient_client.get("/portal/").status_code == 403
    assert patient_client.get("/patients/").status_code in (302, 403)


def test_staff_invite_from_the_chart_page(staff, portal_patient, login):
    client = login(staff["nurse"])
    chart = client.get(f"/patients/{portal_patient.pk}/")
    assert b"Invite to the patient portal" in chart.content
    response = client.post(f"/patients/{portal_patient.pk}/portal-invite/")
    assert response.status_code == 302
    assert PortalAccount.objects.filter(patient=portal_patient).exists()
    assert len(mail.outbox) == 1
    assert (
        login(staff["therapist"]).post(f"/patients/{portal_patient.pk}/portal-invite/").status_code
        == 403
    )


def test_the_login_page_locks_a_patient_out_like_staff(account, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": account.user.username, "password": "wrong"})
    locked = client.post(
        "/login/", {"username": account.user.username, "password": PATIENT_PASSWORD}
    )
    assert locked.status_code in (403, 429) or b"locked" in locked.content.lower()
