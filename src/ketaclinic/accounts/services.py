"""Clinics and staff: used by the management commands and the staff page alike."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone as dj_timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts import token_cache
from ketaclinic.accounts.models import ApiToken, Clinic, Membership, User, validate_timezone
from ketaclinic.accounts.roles import STAFF_ROLES, Role
from ketaclinic.clinical.dea import dea_number_problem

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
    if clinic.require_two_factor and not _has_authenticator(user):
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


# --- the clinic's profile ---------------------------------------------------------------

PROFILE_FIELDS = (
    "name",
    "address",
    "phone",
    "timezone",
    "dea_registration",
    "rems_certification_number",
    "rems_certified_on",
)
LOGO_TYPES = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


def update_clinic_profile(*, actor: Any, logo: Any = None, **changes: Any) -> Clinic:
    """Change the clinic's name, contact, time zone, registrations or logo (validated)."""

    actor.check("floor.manage")
    clinic = Clinic.objects.get(pk=actor.clinic.pk)
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Not a profile field."})
    check_text(**{k: v for k, v in changes.items() if isinstance(v, str)})
    errors: dict[str, str] = {}
    for field in ("name", "address", "phone", "timezone", "dea_registration"):
        if field in changes and changes[field] is not None:
            changes[field] = str(changes[field]).strip()
    if "name" in changes and not changes["name"]:
        errors["name"] = "Give the clinic's name."
    if changes.get("timezone") is not None:
        try:
            validate_timezone(changes["timezone"])
        except ValidationError:
            errors["timezone"] = (
                "Not a known time zone: use a name like America/New_York or Europe/London."
            )
    if changes.get("dea_registration"):
        changes["dea_registration"] = changes["dea_registration"].upper()
        problem = dea_number_problem(changes["dea_registration"])
        if problem:
            errors["dea_registration"] = problem
    certified = changes.get("rems_certified_on")
    today = clinic.today()
    if certified is not None and not (date(2019, 3, 5) <= certified <= today):
        # The SPRAVATO REMS began with its approval on 5 March 2019; a future date is a typo.
        errors["rems_certified_on"] = "The certification date is between March 2019 and today."
    if logo is not None:
        problem = logo_problem(logo)
        if problem:
            errors["logo"] = problem
    if errors:
        raise ValidationError(errors)
    changed = [f for f in PROFILE_FIELDS if f in changes and changes[f] != getattr(clinic, f)]
    for f in changed:
        setattr(clinic, f, changes[f])
    clinic.full_clean(exclude=["slug", "logo"])
    with transaction.atomic():
        if logo is not None:
            if clinic.logo:
                clinic.logo.delete(save=False)
            kind = LOGO_TYPES[_image_format(logo) or "PNG"]
            clinic.logo.save(f"{clinic.slug}.{kind}", logo, save=False)
            changed.append("logo")
        if changed:
            clinic.save(update_fields=changed)
            from ketaclinic.audit.services import record

            record(actor, "update", obj=clinic, detail={"fields": changed})
    return clinic


def _image_format(upload: Any) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        upload.seek(0)
        with Image.open(upload) as image:
            image.verify()
            found = image.format
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
    ):
        return None
    finally:
        upload.seek(0)
    return found


def logo_problem(upload: Any) -> str | None:
    """Why this upload cannot be the clinic's logo, or None (size and real image type)."""
    from django.conf import settings

    limit = settings.KETACLINIC_LOGO_MAX_BYTES
    if upload.size > limit:
        return f"The logo is {upload.size // 1024} kB; at most {limit // 1024} kB."
    if _image_format(upload) not in LOGO_TYPES:
        return "The logo must be a PNG, JPEG or WebP image."
    return None


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
                if not _has_authenticator(membership.user):
                    open_second_factor_enrolment(membership.user)
        from ketaclinic.audit.services import record

        record(
            actor,
            "update",
            obj=clinic,
            detail={"require_two_factor": required, "grace_days": grace_days},
        )
    return clinic


# --- two-factor guards -----------------------------------------------------------------
#
# Once a clinic requires two-factor, a stolen password alone must not be enough to enrol
# the thief's authenticator, nor to mint an API token (which skips the second factor).
# Enrolling with the password alone is allowed while the clinic's grace period runs
# (set_two_factor_requirement), or in a window an admin opened for one person: adding
# them while two-factor is required, or resetting a lost authenticator.

ENROLMENT_WINDOW = timedelta(days=7)


def _has_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def open_second_factor_enrolment(user: User, window: timedelta = ENROLMENT_WINDOW) -> None:
    User.objects.filter(pk=user.pk).update(second_factor_enrolment_until=dj_timezone.now() + window)


def may_enrol_second_factor(user: User) -> bool:
    """Whether `user` may enrol an authenticator now, with only their password behind them."""
    from ketaclinic.accounts.access import two_factor_grace_ends

    if _has_authenticator(user):
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


def create_clinic(
    *,
    user: User,
    slug: str,
    name: str,
    timezone: str,
    admin_username: str,
    admin_email: str = "",
    admin_first_name: str = "",
    admin_last_name: str = "",
) -> Membership:
    """A platform administrator creates a clinic and its first admin (who sets a password by link).

    The clinic and the membership are written together or not at all.
    """
    from django.utils.text import slugify

    from ketaclinic.audit.services import record_system

    if not user.is_superuser:
        raise PermissionDenied("Only a platform administrator creates clinics.")
    errors: dict[str, str] = {}
    slug = (slug or "").strip()
    if not slug or slugify(slug) != slug:
        errors["slug"] = "Lower-case letters, digits and hyphens (e.g. harbor-light)."
    elif Clinic.objects.filter(slug=slug).exists():
        errors["slug"] = "A clinic with this short name exists."
    if not (name or "").strip():
        errors["name"] = "Give the clinic's name."
    try:
        validate_timezone(timezone)
    except ValidationError:
        errors["timezone"] = "Not a known time zone: use a name like America/New_York."
    try:
        admin_username = check_username(admin_username)
    except ValidationError as exc:
        errors["admin_username"] = exc.message_dict["username"][0]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        clinic = Clinic.objects.create(slug=slug, name=name.strip()[:200], timezone=timezone)
        try:
            membership = add_staff(
                username=admin_username,
                clinic=clinic,
                role="admin",
                first_name=admin_first_name,
                last_name=admin_last_name,
                email=admin_email,
            )
        except ValidationError as exc:
            raise ValidationError({f"admin_{k}": v for k, v in exc.message_dict.items()}) from None
        record_system(
            "clinic_created",
            user=user,
            clinic=clinic,
            detail={"clinic": clinic.pk, "admin": membership.user_id},
        )
    return membership
