"""Staff accounts: the username and text checks, adding staff, and managing them.

The /staff/ pages, /api/v1/staff and the `add_staff` command share these; each write
checks the actor's permission and writes its audit event in the same transaction.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone as dj_timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts import token_cache
from ketaclinic.accounts.models import ApiToken, Clinic, Membership, User
from ketaclinic.accounts.roles import STAFF_ROLES, Role

from .second_factor import has_authenticator, open_second_factor_enrolment

# Usernames as people write them: letters, digits, dot, hyphen, underscore and @.
USERNAME_PATTERN = re.compile(r"^[\w.@-]+\Z")
USERNAME_HELP = "Letters, digits and . - _ @ (e.g. dr.chen or nurse.okafor)."


def check_username(value: str) -> str:
    """The username stripped, or a ValidationError on `username` saying what is allowed."""
    text = (value or "").strip()
    if not text:
        raise ValidationError({"username": "Give a username."})
    if len(text) > 150:
        raise ValidationError({"username": "At most 150 characters."})
    if not USERNAME_PATTERN.match(text):
        raise ValidationError({"username": f"Not a valid username. {USERNAME_HELP}"})
    return text


def check_text(**fields: str | None) -> None:
    """Refuse text a database cannot store (NUL), naming the field (the API has no form)."""
    for name, value in fields.items():
        if value is not None and "\x00" in value:
            raise ValidationError({name: "This contains a character that cannot be stored."})


def _check_password_policy(password: str, user: User) -> None:
    """The password policy's own messages, on the `password` field (never a bare list)."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None


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
    username = check_username(username)
    check_text(first_name=first_name, last_name=last_name, email=email, password=password)
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, first_name=first_name, last_name=last_name, email=email)
        user.full_clean(exclude=["password"])
        if password:
            if check_password:
                _check_password_policy(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    elif password and reset_password:
        if check_password:
            _check_password_policy(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(
        user=user, clinic=clinic, defaults={"role": role.value, "is_active": True}
    )
    if clinic.require_two_factor and not has_authenticator(user):
        open_second_factor_enrolment(user)  # the admin adding them vouches for them
    return membership


# --- staff management (the /staff/ pages and /api/v1/staff share these) ---------------


class SharedAccount(Exception):
    """The account also works at another clinic: one clinic's admin may not change it."""


def _only_here(membership: Membership) -> None:
    """Refuse changes to a person's account (not their role here) when another clinic uses it.

    A clinic admin manages access to their clinic; the name, e-mail, password and second
    factor of someone who also works elsewhere belong to that person, not to this clinic.
    """
    elsewhere = (
        Membership.objects.filter(user_id=membership.user_id, is_active=True)
        .exclude(clinic_id=membership.clinic_id)
        .exists()
    )
    if elsewhere:
        raise SharedAccount(
            "This account also works at another clinic: the person changes it themselves."
        )


def add_staff_member(
    *, actor: Any, username: str, password: str | None = None, **person: Any
) -> tuple[Membership, bool]:
    """An admin adds someone to their clinic; returns (membership, whether the account existed).

    A new account needs a temporary password (handed over in person); an existing
    account keeps its own password (see add_staff).
    """
    actor.check("staff.manage")
    existed = User.objects.filter(username=(username or "").strip()).exists()
    if not existed and not password:
        raise ValidationError({"password": "A new account needs a temporary password."})
    with transaction.atomic():
        membership = add_staff(clinic=actor.clinic, username=username, password=password, **person)
        _record(actor, "create", membership, {"role": membership.role})
    return membership, existed


def update_staff(
    *,
    actor: Any,
    membership: Membership,
    role: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
) -> Membership:
    """Change a member's role here and, for an account used only here, their name and e-mail."""
    actor.check("staff.manage")
    check_text(first_name=first_name, last_name=last_name, email=email)
    changes: dict[str, Any] = {}
    if role is not None and role != membership.role:
        if role not in {r.value for r in STAFF_ROLES}:
            raise ValidationError({"role": f"{role!r} is not a staff role."})
        if membership.user_id == actor.user.pk:
            raise ValidationError({"role": "You cannot change your own role."})
        changes["role"] = role
    user = membership.user
    person = {
        k: v.strip()
        for k, v in {"first_name": first_name, "last_name": last_name, "email": email}.items()
        if v is not None and v.strip() != getattr(user, k)
    }
    if person:
        try:
            _only_here(membership)
        except SharedAccount as exc:
            raise ValidationError({next(iter(person)): str(exc)}) from None
        for k, v in person.items():
            setattr(user, k, v)
        user.full_clean(exclude=["password", "username"])
    with transaction.atomic():
        if person:
            user.save(update_fields=list(person))
        if "role" in changes:
            Membership.objects.filter(pk=membership.pk).update(role=changes["role"])
            membership.role = changes["role"]
        if changes or person:
            _record(
                actor,
                "update",
                membership,
                {"fields": sorted([*changes, *person]), **({"role": role} if changes else {})},
            )
    return membership


def get_member_for(actor: Any, membership_id: int | str, *, active: bool = False) -> Membership:
    """A staff membership of the actor's clinic (with access or removed, unless `active`), or 404.

    A patient's membership is not staff: it answers 404 like another clinic's id.
    """
    from ketaclinic.accounts.access import get_for

    rows = Membership.objects.active() if active else Membership.objects.all()
    return get_for(
        actor,
        Membership,
        membership_id,
        None,
        query=rows.exclude(role=Role.PATIENT),
        related=("user",),
        what="staff member",
    )


def _lock_member(actor: Any, membership: Membership) -> Membership:
    """The member's row, locked (the clinic row first, as every writer does), in this clinic."""
    Clinic.objects.select_for_update().filter(pk=actor.clinic.pk).first()
    locked = (
        Membership.objects.select_for_update()
        .filter(pk=membership.pk, clinic_id=actor.clinic.pk)
        .exclude(role=Role.PATIENT)
        .first()
    )
    if locked is None:  # another clinic's membership, or a patient's: never changed here
        raise PermissionDenied("This person is not a staff member of this clinic.")
    return locked


def deactivate_staff(*, actor: Any, membership: Membership) -> Membership:
    """End a member's access here, in one transaction: the membership, every API token it
    holds, and the audit event (with the number of tokens revoked) commit together or not
    at all. A member who has no access already is left as they are (no second event).
    """
    actor.check("staff.manage")
    if membership.user_id == actor.user.pk:
        raise ValidationError({"membership": "You cannot remove your own access."})
    with transaction.atomic():
        locked = _lock_member(actor, membership)
        if locked.is_active:
            Membership.objects.filter(pk=locked.pk).update(is_active=False)
            revoked = ApiToken.objects.filter(membership=locked, revoked_at__isnull=True).update(
                revoked_at=dj_timezone.now()
            )
            _record(actor, "deactivate", locked, {"tokens_revoked": revoked})
    token_cache.forget()  # this process stops accepting the member's tokens at once
    membership.is_active = False
    return membership


def reactivate_staff(*, actor: Any, membership: Membership) -> Membership:
    actor.check("staff.manage")
    with transaction.atomic():
        locked = _lock_member(actor, membership)
        if not locked.is_active:
            Membership.objects.filter(pk=locked.pk).update(is_active=True)
            _record(actor, "reactivate", locked, {})
    membership.is_active = True
    return membership


def password_reset_link(user: User) -> str:
    """The one-time link that lets `user` choose a new password (Django's token machinery)."""
    from django.conf import settings
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return settings.KETACLINIC_BASE_URL.rstrip("/") + path


def send_password_reset(*, actor: Any, membership: Membership) -> None:
    """E-mail the member a link to choose a new password (their old one keeps working)."""
    from django.core.mail import send_mail

    actor.check("staff.manage")
    user = membership.user
    if not user.email:
        raise ValidationError({"email": "Add an e-mail address first: the link is e-mailed."})
    try:
        _only_here(membership)
    except SharedAccount as exc:
        raise ValidationError({"email": str(exc)}) from None
    link = password_reset_link(user)
    with transaction.atomic():
        _record(actor, "password_reset_sent", membership, {})
        transaction.on_commit(
            lambda: send_mail(
                f"Choose a password for {actor.clinic.name}",
                f"Hello {user.get_full_name() or user.username},\n\n"
                f"Choose your ketaclinic password here (the link works once, for a few days):\n"
                f"{link}\n\nYour username is {user.username}.\n",
                None,
                [user.email],
            )
        )


def unlock_staff(*, actor: Any, membership: Membership) -> int:
    """Clear the failed log-ins that locked this member out; returns how many were cleared."""
    from axes.utils import reset

    actor.check("staff.manage")
    with transaction.atomic():
        cleared = reset(username=membership.user.username)
        _record(actor, "unlock", membership, {"cleared": cleared})
    return cleared


def reset_two_factor(*, actor: Any, membership: Membership) -> None:
    """Remove the member's authenticator and recovery codes; they enrol again within a day."""
    from django_otp.plugins.otp_static.models import StaticDevice

    actor.check("staff.manage")
    try:
        _only_here(membership)
    except SharedAccount as exc:
        raise ValidationError({"membership": str(exc)}) from None
    with transaction.atomic():
        TOTPDevice.objects.filter(user_id=membership.user_id).delete()
        StaticDevice.objects.filter(user_id=membership.user_id).delete()
        open_second_factor_enrolment(membership.user, timedelta(days=1))
        _record(actor, "two_factor_reset", membership, {})


def _record(actor: Any, action: str, membership: Membership, detail: dict[str, Any]) -> None:
    from ketaclinic.audit.services import record

    record(actor, action, obj=membership, detail={"user": membership.user_id, **detail})
