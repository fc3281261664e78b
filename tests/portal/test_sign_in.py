"""A patient's e-mailed one-time sign-in link, and their optional authenticator (issue 16)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.models import Membership, User
from ketaclinic.audit.models import AuditEvent
from ketaclinic.portal import sign_in
from ketaclinic.portal.models import SignInLink, SignInRequest
from tests.portal.conftest import PATIENT_PASSWORD
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

EMAIL = "maria.garcia@example.org"
HOSTILE = [
    "",
    "   ",
    "not-an-address",
    "x" * 5000 + "@example.org",
    "<script>@x.org",
    "a\x00@b.org",
]


@pytest.fixture
def account(account):
    """Maria's account, with the invitation's e-mail already read."""
    mail.outbox.clear()
    return account


def ask(client: Client, email: str):
    """Ask for a link, then run the worker's pass that looks the address up and mails it."""
    response = client.post("/portal/sign-in/", {"email": email})
    sign_in.send_requested_links(timezone.now())
    return response


def link_in(message) -> str:
    return re.search(r"(/portal/sign-in/[\w-]+/)", message.body).group(1)


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def code_for(device: TOTPDevice, *, steps_ago: int = 0) -> str:
    value = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=-steps_ago
    )
    return str(value).zfill(device.digits)


def authenticator(user) -> TOTPDevice:
    """An enrolled authenticator, as the Security page leaves it."""
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def unthrottle() -> None:
    """django-otp waits longer after each wrong code; a test's next right code should count."""
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)


# --------------------------------------------------------------------------- asking for a link


def test_the_login_page_offers_the_emailed_link(db):
    page = Client().get("/login/")
    assert b'href="/portal/sign-in/"' in page.content
    assert b"E-mail me a sign-in link" in Client().get("/portal/sign-in/").content


def test_a_patient_gets_one_link_that_works_for_the_set_minutes(account, settings):
    before = timezone.now()
    response = ask(Client(), "  Maria.Garcia@Example.org ")
    assert response.status_code == 200
    assert b"If this address belongs to a patient portal account" in response.content
    [message] = mail.outbox
    assert message.to == [EMAIL]
    assert "15 minutes" in message.body and "Garcia" not in message.body
    link = SignInLink.objects.get()
    assert link.account == account and link.used_at is None
    assert (
        timedelta(minutes=14, seconds=59)
        < link.expires_at - before
        <= timedelta(minutes=15, seconds=5)
    )
    raw = link_in(message).split("/")[-2]
    assert link.token_hash != raw and raw not in link.token_hash  # stored hashed
    event = AuditEvent.objects.get(action="portal_sign_in_link_sent")
    assert event.role == "patient" and event.patient_id == account.patient_id
    assert raw not in str(event.detail)


def test_the_link_lifetime_is_a_setting(account, settings):
    settings.PORTAL_SIGN_IN_LINK_MINUTES = 5
    ask(Client(), EMAIL)
    assert "5 minutes" in mail.outbox[0].body
    assert SignInLink.objects.get().expires_at - timezone.now() <= timedelta(minutes=5)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(account):
    known = ask(Client(), EMAIL)
    with nothing_changed():
        unknown = ask(Client(), "nobody@example.org")
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)
    assert len(mail.outbox) == 1


def _asked(email: str) -> tuple[int, bytes, list[str]]:
    """The page's answer and the statements it ran, each as its verb and tables (no values)."""
    with CaptureQueriesContext(connection) as queries:
        response = Client().post("/portal/sign-in/", {"email": email})
    shapes = [re.sub(r"'[^']*'|\b\d+\b", "?", q["sql"]) for q in queries.captured_queries]
    return response.status_code, response.content, shapes


def test_the_page_does_the_same_work_for_a_patients_address_and_a_strangers(account):
    """Nothing in the answer's time tells whether the address has an account: the page runs
    the same statements (one queued row) and the lookup and the mail happen in the worker."""
    _asked("warm-up@example.org")  # a process's first request fills its caches once
    known = _asked(EMAIL)
    unknown = _asked("nobody@example.org")
    assert known[:2] == unknown[:2]
    assert known[2] == unknown[2]
    # Besides the rate-limit counters and the lock-out check: one queued row, and no
    # look at accounts or users at all.
    writes = [q for q in known[2] if not q.startswith("SELECT") and "ketaclinic_cache" not in q]
    assert [q.split("(")[0] for q in writes] == ['INSERT INTO "portal_signinrequest" ']
    assert not any("portal_portalaccount" in q or '"auth_user"' in q for q in known[2])
    assert SignInRequest.objects.count() == 3 and not mail.outbox
    assert not SignInLink.objects.exists()
    # The worker's next pass mails the patient's link and nothing to the stranger.
    assert sign_in.send_requested_links(timezone.now()) == 3
    assert [m.to for m in mail.outbox] == [[EMAIL]]
    assert not SignInRequest.objects.exists()


def test_an_old_request_is_dropped_unsent(account, settings):
    Client().post("/portal/sign-in/", {"email": EMAIL})
    later = timezone.now() + timedelta(minutes=settings.PORTAL_SIGN_IN_LINK_MINUTES + 1)
    assert sign_in.send_requested_links(later) == 0
    assert not SignInRequest.objects.exists() and not mail.outbox


def test_a_staff_address_gets_no_link(staff, account):
    nurse = staff["nurse"].user
    User.objects.filter(pk=nurse.pk).update(username="grace@example.org", email="grace@example.org")
    assert ask(Client(), "grace@example.org").status_code == 200
    assert not mail.outbox and not SignInLink.objects.exists()


def test_a_patient_who_is_also_staff_gets_no_link(account, other_clinic):
    Membership.objects.create(user=account.user, clinic=other_clinic, role="nurse")
    ask(Client(), EMAIL)
    assert not mail.outbox


def test_a_deactivated_or_locked_out_patient_gets_no_link(account, settings):
    Membership.objects.filter(pk=account.membership_id).update(is_active=False)
    ask(Client(), EMAIL)
    assert not mail.outbox
    Membership.objects.filter(pk=account.membership_id).update(is_active=True)
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        browser.post("/login/", {"username": EMAIL, "password": "wrong"})
    ask(browser, EMAIL)
    assert not mail.outbox


@pytest.mark.parametrize("hostile", HOSTILE)
def test_empty_and_hostile_addresses_are_refused_without_mail(account, hostile):
    with nothing_changed():
        response = ask(Client(), hostile)
    assert response.status_code == 422
    assert b"Enter the e-mail address" in response.content
    assert b"<script>@" not in response.content
    assert not mail.outbox


def test_asking_too_often_for_one_address_is_limited(account, settings):
    browser = Client()
    for _ in range(settings.PORTAL_SIGN_IN_LINKS_PER_EMAIL):
        assert ask(browser, EMAIL).status_code == 200
    limited = ask(browser, EMAIL)
    assert limited.status_code == 429 and limited["Retry-After"] == "3600"
    assert len(mail.outbox) == settings.PORTAL_SIGN_IN_LINKS_PER_EMAIL
    # An unknown address is limited exactly the same way (nothing told by the limit).
    for _ in range(settings.PORTAL_SIGN_IN_LINKS_PER_EMAIL):
        ask(Client(), "nobody@example.org")
    assert ask(Client(), "nobody@example.org").status_code == 429


# --------------------------------------------------------------------------- using a link


def test_opening_the_link_signs_in_only_with_the_button(account):
    ask(Client(), EMAIL)
    url = link_in(mail.outbox[0])
    browser = Client()
    page = browser.get(url)  # what a mail scanner does
    assert page.status_code == 200 and b"Sign in" in page.content
    assert signed_in_as(browser) is None and SignInLink.objects.get().used_at is None
    done = browser.post(url)
    assert done.status_code == 302 and done.url == "/portal/"
    assert signed_in_as(browser) == EMAIL
    assert browser.get("/portal/").status_code == 200
    assert AuditEvent.objects.filter(action="portal_sign_in_link_used").count() == 1
    assert AuditEvent.objects.filter(action="login", username=EMAIL).count() == 1


def test_a_used_link_works_no_more(account):
    ask(Client(), EMAIL)
    url = link_in(mail.outbox[0])
    Client().post(url)
    again = Client()
    assert again.get(url).status_code == 404
    assert again.post(url).status_code == 404
    assert signed_in_as(again) is None


def test_an_expired_link_does_not_sign_in(account):
    ask(Client(), EMAIL)
    SignInLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    browser = Client()
    with nothing_changed(SignInLink):
        response = browser.post(link_in(mail.outbox[0]))
    assert response.status_code == 404 and b"expired or was already used" in response.content
    assert signed_in_as(browser) is None


@pytest.mark.parametrize("token", ["wrong", "x" * 300, "%00", "..%2F..%2Fadmin"])
def test_a_wrong_link_does_not_sign_in(account, token):
    ask(Client(), EMAIL)
    browser = Client()
    assert browser.post(f"/portal/sign-in/{token}/").status_code == 404
    assert signed_in_as(browser) is None
    assert SignInLink.objects.get().used_at is None


def test_a_new_link_replaces_the_earlier_one(account):
    ask(Client(), EMAIL)
    ask(Client(), EMAIL)
    first, second = (link_in(m) for m in mail.outbox)
    assert Client().post(first).status_code == 404
    assert Client().post(second).status_code == 302


def test_a_patient_deactivated_after_the_mail_is_not_signed_in(account):
    ask(Client(), EMAIL)
    Membership.objects.filter(pk=account.membership_id).update(is_active=False)
    browser = Client()
    assert browser.post(link_in(mail.outbox[0])).status_code == 404
    assert signed_in_as(browser) is None
    assert SignInLink.objects.get().used_at is not None
    assert AuditEvent.objects.filter(action="portal_sign_in_link_refused").count() == 1


def test_the_token_never_reaches_the_logs(account, caplog):
    caplog.set_level(logging.DEBUG)
    ask(Client(), EMAIL)
    url = link_in(mail.outbox[0])
    Client().get(url)
    Client().post(url)
    Client().post(url)  # a used link: a 404, which Django logs as a warning
    raw = url.split("/")[-2]
    assert raw not in caplog.text


# --------------------------------------------------------------------------- the authenticator at sign-in


def test_the_link_asks_for_the_code_of_an_enrolled_authenticator(account):
    device = authenticator(account.user)
    ask(Client(), EMAIL)
    browser = Client()
    assert browser.post(link_in(mail.outbox[0])).url == "/portal/"
    held = browser.get("/portal/")
    assert held.status_code == 302 and held.url.startswith("/portal/sign-in/code/")
    assert browser.get("/api/v1/portal/me").status_code == 403
    wrong = browser.post("/portal/sign-in/code/?next=/portal/", {"code": "000000"})
    assert wrong.status_code == 422 and b"not valid" in wrong.content
    unthrottle()
    ok = browser.post("/portal/sign-in/code/?next=/portal/journal/", {"code": code_for(device)})
    assert ok.status_code == 302 and ok.url == "/portal/journal/"
    assert browser.get("/portal/").status_code == 200
    assert browser.get("/api/v1/portal/me").status_code == 200


def test_the_password_sign_in_asks_for_the_code_too(account):
    authenticator(account.user)
    browser = Client()
    browser.post("/login/", {"username": EMAIL, "password": PATIENT_PASSWORD})
    assert browser.get("/home/").url == "/portal/"
    assert browser.get("/portal/messages/").url == "/portal/sign-in/code/?next=/portal/messages/"


@pytest.mark.parametrize("code", ["", "   ", "12345678901234567", "<script>", "\x00123456"])
def test_the_code_page_refuses_empty_and_hostile_codes(account, code):
    authenticator(account.user)
    browser = Client()
    browser.post("/login/", {"username": EMAIL, "password": PATIENT_PASSWORD})
    response = browser.post("/portal/sign-in/code/", {"code": code})
    assert response.status_code == 422
    assert b"<script>" not in response.content
    assert browser.get("/portal/").status_code == 302


def test_a_recovery_code_works_once_and_next_stays_on_the_portal(account):
    from ketaclinic.accounts.two_factor import issue_recovery_codes

    authenticator(account.user)
    recovery = issue_recovery_codes(account.user)[0]
    browser = Client()
    browser.post("/login/", {"username": EMAIL, "password": PATIENT_PASSWORD})
    ok = browser.post("/portal/sign-in/code/?next=https://evil.example/", {"code": recovery})
    assert ok.url == "/portal/"
    other = Client()
    other.post("/login/", {"username": EMAIL, "password": PATIENT_PASSWORD})
    assert other.post("/portal/sign-in/code/", {"code": recovery}).status_code == 422


def test_the_code_page_is_not_for_staff_or_strangers(staff, login):
    assert Client().get("/portal/sign-in/code/").url == "/portal/sign-in/"
    assert login(staff["nurse"]).get("/portal/sign-in/code/").status_code == 403


def test_a_patients_api_token_needs_no_code(account):
    from ketaclinic.accounts.models import ApiToken

    authenticator(account.user)
    _, raw = ApiToken.issue(account.membership, name="phone")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/v1/portal/me").status_code == 200


# --------------------------------------------------------------------------- the Security page


def test_the_patient_enrols_an_authenticator_from_the_security_page(account, patient_client):
    page = patient_client.get("/portal/security/")
    assert page.status_code == 200 and b"<svg" in page.content and b"manual-key" in page.content
    device = TOTPDevice.objects.get(user=account.user)
    assert not device.confirmed
    with nothing_changed(StaticDevice):
        wrong = patient_client.post("/portal/security/", {"code": "000000"})
    assert wrong.status_code == 422
    assert not TOTPDevice.objects.get().confirmed
    unthrottle()
    done = patient_client.post("/portal/security/", {"code": code_for(device)})
    assert done.status_code == 302
    assert TOTPDevice.objects.get().confirmed
    shown = patient_client.get("/portal/security/")
    assert shown.content.count(b"<li><code>") == 10
    assert b"Two-step sign-in is on" in shown.content
    assert patient_client.get("/portal/security/").content.count(b"<li><code>") == 0  # once
    event = AuditEvent.objects.get(action="portal_two_factor_on")
    assert event.role == "patient" and event.patient_id == account.patient_id
    # This session gave the code; a new one must.
    assert patient_client.get("/portal/").status_code == 200
    fresh = Client()
    fresh.post("/login/", {"username": EMAIL, "password": PATIENT_PASSWORD})
    assert fresh.get("/portal/").status_code == 302


@pytest.mark.parametrize("code", ["", "<script>alert(1)</script>", "\x00", "9" * 40])
def test_enrolment_refuses_empty_and_hostile_codes(account, patient_client, code):
    patient_client.get("/portal/security/")
    with nothing_changed(TOTPDevice, StaticDevice):
        response = patient_client.post("/portal/security/", {"code": code})
    assert response.status_code == 422
    assert b"<script>alert" not in response.content


def _verified_client(account, device) -> Client:
    client = Client()
    client.post("/login/", {"username": EMAIL, "password": PATIENT_PASSWORD})
    assert (
        client.post("/portal/sign-in/code/", {"code": code_for(device, steps_ago=1)}).status_code
        == 302
    )
    return client


@pytest.mark.parametrize(
    ("password", "code", "field"),
    [
        ("", "", b"Enter your password."),
        ("wrong password", "current", b"That password is not right."),
        (PATIENT_PASSWORD, "000000", b"That code is not valid"),
        ("<script>alert(1)</script>", "<script>", b"That password is not right."),
        ("\x00", "\x00", b"Enter the 6-digit code"),
    ],
)
def test_turning_off_needs_the_password_and_a_code(account, password, code, field):
    device = authenticator(account.user)
    client = _verified_client(account, device)
    unthrottle()
    code = code_for(device) if code == "current" else code
    response = client.post(
        "/portal/security/", {"action": "off", "password": password, "code": code}
    )
    assert response.status_code == 422
    assert TOTPDevice.objects.get(user=account.user).confirmed
    assert field in response.content
    assert b"<script>alert" not in response.content
    assert not AuditEvent.objects.filter(action="portal_two_factor_off").exists()


def test_the_patient_turns_the_authenticator_off(account):
    device = authenticator(account.user)
    client = _verified_client(account, device)
    unthrottle()
    response = client.post(
        "/portal/security/",
        {"action": "off", "password": PATIENT_PASSWORD, "code": code_for(device)},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=account.user).exists()
    assert not StaticDevice.objects.filter(user=account.user).exists()
    assert AuditEvent.objects.filter(action="portal_two_factor_off").count() == 1
    fresh = Client()
    fresh.post("/login/", {"username": EMAIL, "password": PATIENT_PASSWORD})
    assert fresh.get("/portal/").status_code == 200


def test_staff_are_refused_the_security_page(staff, login):
    for member in staff.values():
        client = login(member)
        with nothing_changed(TOTPDevice):
            assert client.get("/portal/security/").status_code == 403


def test_a_clinic_requiring_staff_two_factor_does_not_stop_a_patient_enrolling(
    account, clinic, patient_client
):
    clinic.require_two_factor = True
    clinic.two_factor_required_since = timezone.now() - timedelta(days=60)
    clinic.save()
    assert patient_client.get("/portal/security/").status_code == 200
    from ketaclinic.accounts.services import may_enrol_second_factor

    assert may_enrol_second_factor(account.user)


def _link_only_client(account, device) -> Client:
    """A patient who never set a password: in by the e-mailed link, then the code."""
    account.user.set_unusable_password()
    account.user.save(update_fields=["password"])
    ask(Client(), EMAIL)
    client = Client()
    client.post(link_in(mail.outbox[-1]))
    assert (
        client.post("/portal/sign-in/code/", {"code": code_for(device, steps_ago=1)}).status_code
        == 302
    )
    return client


def test_a_patient_without_a_password_turns_the_authenticator_off_with_a_code(account):
    device = authenticator(account.user)
    client = _link_only_client(account, device)
    page = client.get("/portal/security/")
    assert b'name="password"' not in page.content
    assert b"confirm with a current code from your app" in page.content
    unthrottle()
    response = client.post("/portal/security/", {"action": "off", "code": code_for(device)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=account.user).exists()
    event = AuditEvent.objects.get(action="portal_two_factor_off")
    assert (event.user_id, event.role) == (account.user_id, "patient")


@pytest.mark.parametrize("code", ["", "000000", "<script>alert(1)</script>", "\x00"])
def test_a_patient_without_a_password_still_needs_a_valid_code(account, code):
    device = authenticator(account.user)
    client = _link_only_client(account, device)
    unthrottle()
    with nothing_changed(StaticDevice):  # a wrong code only counts towards django-otp's throttle
        response = client.post("/portal/security/", {"action": "off", "code": code})
    assert response.status_code == 422
    assert TOTPDevice.objects.get(user=account.user).confirmed
    assert b"code" in response.content and b"<script>alert" not in response.content
    assert not AuditEvent.objects.filter(action="portal_two_factor_off").exists()
