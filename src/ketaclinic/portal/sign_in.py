"""A patient's other ways in: the e-mailed one-time sign-in link, and their optional authenticator.

The link is asked for with an e-mail address, and the answer is the same whether or not
the address names a portal account (nothing tells a stranger who is a patient here), in
its words and in its time: the page only queues the request, and the worker looks the
address up and sends the mail (`ask_for_link`, `send_requested_links`). It is mailed only to an active patient-only account that is not locked out, works once, for
PORTAL_SIGN_IN_LINK_MINUTES, and only its SHA-256 is stored. Opening it shows a button:
the link is spent by the POST, so a mail scanner that fetches the page spends nothing.
A patient who enrolled an authenticator still gives its code after the link
(`needs_code`, checked by the portal's door).

The authenticator itself is the staff machinery (accounts/two_factor.py); this module
adds the patient's rules (optional; turning it off takes the password, if any, and a code) and
their audit events.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from ketaclinic import limits
from ketaclinic.accounts import login_limits
from ketaclinic.accounts import two_factor as second_factor
from ketaclinic.accounts.access import Actor, client_ip, is_portal_user
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record
from ketaclinic.measures.services import base_url
from ketaclinic.portal.models import PortalAccount, SignInLink, SignInRequest

LINK_GONE = "This sign-in link has expired or was already used."
BATCH = 100  # requests handled per worker pass


def link_minutes() -> int:
    return int(settings.PORTAL_SIGN_IN_LINK_MINUTES)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _actor(account: PortalAccount, request: HttpRequest) -> Actor:
    return Actor(user=account.user, membership=account.membership, ip=client_ip(request))


def rate_limited(request: HttpRequest, email: str) -> bool:
    """True when this address, or anyone for this e-mail address, asked too often this hour.

    Both are counted, always; the e-mail is counted by its hash (no address in the cache).
    """
    keys = [
        (f"portal:link:ip:{client_ip(request) or '-'}", settings.PORTAL_SIGN_IN_LINKS_PER_ADDRESS),
        (
            f"portal:link:to:{_hash(email.strip().lower())[:32]}",
            settings.PORTAL_SIGN_IN_LINKS_PER_EMAIL,
        ),
    ]
    over = [limits.limited_after_hit(key, limit, 3600) for key, limit in keys]
    return any(over)


def rate_limited_link(request: HttpRequest) -> bool:
    """True when this address opened or posted sign-in links too often this hour."""
    key = f"portal:link:open:{client_ip(request) or '-'}"
    return limits.limited_after_hit(key, settings.PORTAL_SIGN_IN_LINK_OPENS_PER_ADDRESS, 3600)


def _locked_out(request: HttpRequest, username: str) -> bool:
    """Whether the log-in page would refuse this account now (axes' lock or the log-in limits)."""
    from axes.handlers.proxy import AxesProxyHandler

    credentials = {"username": username}
    return login_limits.over_limit(request, username) or AxesProxyHandler.is_locked(
        request, credentials
    )


def _may_have_link(account: PortalAccount | None) -> TypeGuard[PortalAccount]:
    return (
        account is not None
        and account.user.is_active
        and account.membership.is_active
        and is_portal_user(account.user)  # a patient who is also staff signs in as staff
    )


def _may_sign_in(account: PortalAccount | None, request: HttpRequest) -> bool:
    return _may_have_link(account) and not _locked_out(request, account.user.username)


def ask_for_link(*, request: HttpRequest, email: str) -> None:
    """Queue "e-mail me a sign-in link" for the worker; the caller answers the same either way.

    Looking the address up, writing the link and its audit event and talking to the mail
    server take longer when the address is a patient's, so none of it happens here: the
    page does the same work for every address (the lock-out check is by the typed name,
    account or not, as on the log-in page, then one row), and `send_requested_links`
    does the rest within a worker pass.
    """
    address = email.strip().lower()
    if _locked_out(request, address):
        return
    SignInRequest.objects.create(email=address, ip=client_ip(request))


def send_requested_links(now: datetime) -> int:
    """The worker's job: mail a link for each queued request that names a patient's account.

    Requests older than a link's lifetime are dropped unsent (the patient has asked again
    or given up). Returns how many requests were handled.
    """
    stale = now - timedelta(minutes=link_minutes())
    SignInRequest.objects.filter(created_at__lt=stale).delete()
    handled = 0
    for asked in SignInRequest.objects.order_by("pk")[:BATCH]:
        with transaction.atomic():
            if not SignInRequest.objects.filter(pk=asked.pk).delete()[0]:
                continue  # another worker took it
            _send_link(email=asked.email, ip=asked.ip, now=now)
        handled += 1
    return handled


def _send_link(*, email: str, ip: str | None, now: datetime) -> None:
    """E-mail a one-time sign-in link if `email` names a patient's portal account; else nothing.

    A new link replaces any earlier one still open. Runs inside the caller's transaction.
    """
    account = (
        PortalAccount.objects.select_related("user", "membership__clinic", "clinic")
        .filter(user__username__iexact=email, membership__role=Role.PATIENT.value)
        .first()
    )
    if not _may_have_link(account):
        return
    raw = secrets.token_urlsafe(32)
    expires = now + timedelta(minutes=link_minutes())
    SignInLink.objects.filter(account=account, used_at__isnull=True).update(used_at=now)
    link = SignInLink.objects.create(
        account=account, token_hash=_hash(raw), created_at=now, expires_at=expires
    )
    record(
        Actor(user=account.user, membership=account.membership, ip=ip),
        "portal_sign_in_link_sent",
        patient_id=account.patient_id,
        obj=link,
    )
    clinic_name = account.clinic.name
    url = base_url() + reverse("portal_sign_in_link", args=[raw])
    body = (
        f"Someone (we hope you) asked to sign in to the patient portal of {clinic_name}.\n\n"
        f'Open this link and press "Sign in" (it works once, for {link_minutes()} minutes):\n'
        f"{url}\n\n"
        "If you did not ask for it, ignore this e-mail: nobody can sign in without it.\n"
    )
    recipient = account.user.email or account.user.username
    transaction.on_commit(
        lambda: send_mail(
            subject=f"Your sign-in link for {clinic_name}",
            message=body,
            from_email=None,
            recipient_list=[recipient],
        )
    )


def find_link(raw: str) -> SignInLink | None:
    """The open, unexpired sign-in link for this token, or None."""
    if not raw or len(raw) > 200:
        return None
    return (
        SignInLink.objects.select_related(
            "account__user", "account__membership__clinic", "account__clinic"
        )
        .filter(token_hash=_hash(raw), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def use_link(*, request: HttpRequest, raw: str) -> PortalAccount:
    """Spend the link and return the account to sign in; ValidationError when it cannot be used.

    The account is checked again now: deactivated or locked out since the link was sent,
    the link is spent and does not sign anyone in.
    """
    found = find_link(raw)
    if found is None:
        raise ValidationError(LINK_GONE)
    account = found.account
    with transaction.atomic():
        spent = SignInLink.objects.filter(
            pk=found.pk, used_at__isnull=True, expires_at__gt=timezone.now()
        ).update(used_at=timezone.now())
        if not spent:
            raise ValidationError(LINK_GONE)
        allowed = _may_sign_in(account, request)
        record(
            _actor(account, request),
            "portal_sign_in_link_used" if allowed else "portal_sign_in_link_refused",
            patient_id=account.patient_id,
            obj=found,
        )
    if not allowed:
        raise ValidationError(LINK_GONE)
    return account


# --------------------------------------------------------------------------- authenticator


def needs_code(request: HttpRequest, account: PortalAccount) -> bool:
    """True when the patient enrolled an authenticator and this session has not given a code.

    An API token is not a session: it was issued to the patient and passes on its own.
    """
    if getattr(request, "api_token_id", None):
        return False
    user: Any = request.user  # django-otp's middleware adds is_verified
    if user.is_verified():
        return False
    return second_factor.confirmed_device(account.user) is not None


def enrol(*, request: HttpRequest, actor: Actor, account: PortalAccount, code: str) -> bool:
    """Confirm the pending authenticator with a code from it; True when it now guards sign-in."""
    if second_factor.confirmed_device(account.user) is not None:
        raise ValidationError({"code": "An authenticator is already set up."})
    device = second_factor.pending_device(account.user)
    with transaction.atomic():
        if not second_factor.confirm_enrolment(request, device, code):
            return False
        record(actor, "portal_two_factor_on", patient_id=account.patient_id, obj=account)
    return True


def turn_off(
    *, request: HttpRequest, actor: Actor, account: PortalAccount, password: str, code: str
) -> None:
    """Remove the patient's authenticator; needs their password (if they have one) and a code.

    The password goes through the log-in's own checks, so wrong guesses here count
    towards the same lockout as on the log-in page. A patient who signs in only by the
    e-mailed link has no password to give: a current code from the authenticator itself
    (something only they hold, on top of the link this session came in by) is the proof.
    """
    if second_factor.confirmed_device(account.user) is None:
        raise ValidationError({"code": "No authenticator is set up."})
    user = account.user
    has_password = user.has_usable_password()
    errors: dict[str, str] = {}
    if has_password and not password:
        errors["password"] = "Enter your password."
    if not second_factor.clean_code(code):
        errors["code"] = "Enter the 6-digit code from your app."
    if errors:
        raise ValidationError(errors)
    if has_password and authenticate(request, username=user.username, password=password) is None:
        raise ValidationError({"password": "That password is not right."})
    if not second_factor.check_code(user, code):
        raise ValidationError({"code": "That code is not valid. Check the time on your phone."})
    with transaction.atomic():
        second_factor.remove(user)
        record(actor, "portal_two_factor_off", patient_id=account.patient_id, obj=account)
