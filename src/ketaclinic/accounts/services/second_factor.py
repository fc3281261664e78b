"""The clinic's two-factor rule and what it guards: enrolling an authenticator with only a
password, and issuing an API token (which skips the second factor).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone as dj_timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.models import ApiToken, Clinic, Membership, User
from ketaclinic.accounts.roles import Role

# --- two-factor guards -----------------------------------------------------------------
#
# Once a clinic requires two-factor, a stolen password alone must not be enough to enrol
# the thief's authenticator, nor to mint an API token (which skips the second factor).
# Enrolling with the password alone is allowed while the clinic's grace period runs
# (set_two_factor_requirement), or in a window an admin opened for one person: adding
# them while two-factor is required, or resetting a lost authenticator.

ENROLMENT_WINDOW = timedelta(days=7)


def has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def open_second_factor_enrolment(user: User, window: timedelta = ENROLMENT_WINDOW) -> None:
    User.objects.filter(pk=user.pk).update(second_factor_enrolment_until=dj_timezone.now() + window)


def may_enrol_second_factor(user: User) -> bool:
    """Whether `user` may enrol an authenticator now, with only their password behind them."""
    from ketaclinic.accounts.access import two_factor_grace_ends

    if has_authenticator(user):
        return False  # a second one is enrolled by confirming with the first (or a reset)
    requiring = [
        m.clinic
        for m in Membership.objects.active()
        .filter(user=user, clinic__require_two_factor=True)
        .exclude(role=Role.PATIENT)  # the clinic's rule is for its staff; a patient's is optional
        .select_related("clinic")
    ]
    if not requiring:
        return True
    if any(two_factor_grace_ends(user, clinic) is not None for clinic in requiring):
        return True
    until = User.objects.filter(pk=user.pk).values_list("second_factor_enrolment_until", flat=True)
    return until[0] is not None and until[0] > dj_timezone.now()


@transaction.atomic
def issue_api_token(*, actor: Any, name: str, otp_code: str = "") -> tuple[ApiToken, str]:
    """A new token for the actor's membership; the raw secret is returned once.

    When the clinic requires two-factor, a code from the member's authenticator is
    checked now, whatever the session passed earlier: the token will skip that check.
    """
    from ketaclinic.audit.services import record

    if actor.clinic.require_two_factor:
        device = TOTPDevice.objects.filter(user=actor.user, confirmed=True).first()
        if device is None:
            raise ValidationError(
                {"otp_code": "Enrol an authenticator first: your clinic requires two-factor."}
            )
        if not device.verify_token((otp_code or "").strip()):
            raise ValidationError({"otp_code": "That code is not valid."})
    token, raw = ApiToken.issue(actor.membership, name=name)
    record(actor, "create", obj=token)
    return token, raw


def set_two_factor_requirement(*, actor: Any, required: bool, grace_days: int) -> Clinic:
    """Require two-factor for staff (with days of grace to enrol), or stop requiring it."""
    actor.check("staff.manage")
    if not 0 <= grace_days <= 30:
        raise ValidationError({"grace_days": "Between 0 and 30 days."})
    clinic = Clinic.objects.get(pk=actor.clinic.pk)
    starting = required and not clinic.require_two_factor
    clinic.require_two_factor = required
    clinic.two_factor_grace_days = grace_days
    if starting:
        clinic.two_factor_required_since = dj_timezone.now()
    if not required:
        clinic.two_factor_required_since = None
    with transaction.atomic():
        clinic.save(
            update_fields=[
                "require_two_factor",
                "two_factor_grace_days",
                "two_factor_required_since",
            ]
        )
        if starting:  # members without an authenticator may enrol one with their password
            for membership in Membership.objects.active().filter(clinic=clinic):
                if not has_authenticator(membership.user):
                    open_second_factor_enrolment(membership.user)
        from ketaclinic.audit.services import record

        record(
            actor,
            "update",
            obj=clinic,
            detail={"require_two_factor": required, "grace_days": grace_days},
        )
    return clinic
