"""Clinics and staff: used by the management commands and the staff page alike."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from ketaclinic.accounts.models import Clinic, Membership, User, validate_timezone
from ketaclinic.accounts.roles import Role


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
    return membership
