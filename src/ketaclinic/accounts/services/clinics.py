"""Clinics: adding one (command line, demo), a platform administrator creating one with
its first admin, and the clinic's own profile and logo.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ketaclinic.accounts.models import Clinic, Membership, User, validate_timezone
from ketaclinic.clinical.dea import dea_number_problem

from .staff import add_staff, check_text, check_username


def add_clinic(*, slug: str, name: str, timezone: str = "UTC") -> Clinic:
    """Create a clinic, or update the name and time zone of an existing one."""
    validate_timezone(timezone)
    clinic, _ = Clinic.objects.update_or_create(
        slug=slug, defaults={"name": name, "timezone": timezone}
    )
    return clinic


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
