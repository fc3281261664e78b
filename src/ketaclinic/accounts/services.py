"""Clinics and staff: used by the management commands and the staff page alike."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import ApiToken, Clinic, Membership, User, validate_timezone
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record


def add_clinic(*, slug: str, name: str, timezone: str = "UTC") -> Clinic:
    """Create a clinic, or update the name and time zone of an existing one."""
    validate_timezone(timezone)
    clinic, _ = Clinic.objects.update_or_create(
        slug=slug, defaults={"name": name, "timezone": timezone}
    )
    return clinic


@transaction.atomic
def add_staff(
    *,
    username: str,
    clinic: Clinic,
    role: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    check_password: bool = True,
    reset_password: bool = False,
) -> Membership:
    """Create the user if needed and give them `role` in `clinic` (re-activating a membership).

    An existing user's password changes only with `reset_password` (the command line, run
    by whoever runs the server): a clinic admin adding an existing account to their clinic
    must never be able to set the password of someone who works elsewhere.
    """
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError({"role": f"{role!r} is not a role"}) from None
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, first_name=first_name, last_name=last_name, email=email)
        user.full_clean(exclude=["password"])
        if password:
            if check_password:
                validate_password(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    elif password and reset_password:
        if check_password:
            validate_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(
        user=user, clinic=clinic, defaults={"role": role.value, "is_active": True}
    )
    if clinic.require_two_factor and not _has_authenticator(user):
        open_second_factor_enrolment(user)  # the admin adding them vouches for them
    return membership


# ------------------------------------------------------------------ two-factor guards
#
# Once a clinic requires two-factor, a stolen password alone must not be enough to enrol
# the thief's authenticator, nor to mint an API token (which skips the second factor).
# Enrolling with the password alone is allowed only in a window an admin opened: adding
# the member, turning the requirement on, or resetting a lost authenticator.

ENROLMENT_WINDOW = timedelta(days=7)


def _has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def open_second_factor_enrolment(user: User, window: timedelta = ENROLMENT_WINDOW) -> None:
    User.objects.filter(pk=user.pk).update(second_factor_enrolment_until=timezone.now() + window)


def may_enrol_second_factor(user: User) -> bool:
    """Whether `user` may enrol an authenticator now, with only their password behind them."""
    if _has_authenticator(user):
        return False  # a second one is enrolled by confirming with the first (or a reset)
    requiring = Membership.objects.active().filter(user=user, clinic__require_two_factor=True)
    if not requiring.exists():
        return True
    until = User.objects.filter(pk=user.pk).values_list("second_factor_enrolment_until", flat=True)[
        0
    ]
    return until is not None and until > timezone.now()


@transaction.atomic
def set_two_factor_required(*, actor: Actor, required: bool) -> Clinic:
    """Turn the clinic's requirement on or off; members without an authenticator may enrol."""
    clinic = actor.clinic
    clinic.require_two_factor = required
    clinic.save(update_fields=["require_two_factor"])
    if required:
        for membership in Membership.objects.active().filter(clinic=clinic).select_related("user"):
            if not _has_authenticator(membership.user):
                open_second_factor_enrolment(membership.user)
    record(actor, "update", obj=clinic, detail={"require_two_factor": required})
    return clinic


@transaction.atomic
def reset_second_factor(*, actor: Actor, membership: Membership) -> None:
    """An admin's reset of a member's lost authenticator: removed, and enrolment reopened."""
    if membership.clinic_id != actor.clinic.pk:
        raise ValidationError("No such member in this clinic.")
    TOTPDevice.objects.filter(user=membership.user).delete()
    open_second_factor_enrolment(membership.user, timedelta(days=1))
    record(actor, "reset_second_factor", obj=membership)


@transaction.atomic
def issue_api_token(*, actor: Actor, name: str, otp_code: str = "") -> tuple[ApiToken, str]:
    """A new token for the actor's membership; the raw secret is returned once.

    When the clinic requires two-factor, a code from the member's authenticator is
    checked now, whatever the session passed earlier: the token will skip that check.
    """
    if actor.clinic.require_two_factor:
        device = TOTPDevice.objects.filter(user=actor.user, confirmed=True).first()
        if device is None:
            raise ValidationError(
                {"otp_code": "Enrol an authenticator first: your clinic requires two-factor."}
            )
        if not device.verify_token(otp_code.strip()):
            raise ValidationError({"otp_code": "That code is not valid."})
    token, raw = ApiToken.issue(actor.membership, name=name)
    record(actor, "create", obj=token)
    return token, raw
