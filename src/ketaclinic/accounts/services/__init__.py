"""Accounts: clinics, staff and the second factor. Each write checks the actor's permission
and writes its audit event in the same transaction.

The package's modules:

- `staff`: the username and text checks, adding staff, and managing them (deactivate,
  reactivate, password-reset link, unlock, reset the second factor).
- `clinics`: adding a clinic, a platform administrator creating one with its first admin,
  the clinic's profile and logo.
- `second_factor`: the clinic's two-factor rule and what it guards (enrolling an
  authenticator with only a password, issuing an API token).

Callers import from `ketaclinic.accounts.services`; the names are re-exported here.
"""

from __future__ import annotations

from .clinics import (
    LOGO_TYPES,
    PROFILE_FIELDS,
    add_clinic,
    create_clinic,
    logo_problem,
    update_clinic_profile,
)
from .second_factor import (
    ENROLMENT_WINDOW,
    has_authenticator,
    issue_api_token,
    may_enrol_second_factor,
    open_second_factor_enrolment,
    set_two_factor_requirement,
)
from .staff import (
    USERNAME_HELP,
    USERNAME_PATTERN,
    SharedAccount,
    add_staff,
    add_staff_member,
    check_text,
    check_username,
    deactivate_staff,
    get_member_for,
    password_reset_link,
    reactivate_staff,
    reset_two_factor,
    send_password_reset,
    unlock_staff,
    update_staff,
)

__all__ = [
    "ENROLMENT_WINDOW",
    "LOGO_TYPES",
    "PROFILE_FIELDS",
    "SharedAccount",
    "USERNAME_HELP",
    "USERNAME_PATTERN",
    "add_clinic",
    "add_staff",
    "add_staff_member",
    "check_text",
    "check_username",
    "create_clinic",
    "deactivate_staff",
    "get_member_for",
    "has_authenticator",
    "issue_api_token",
    "logo_problem",
    "may_enrol_second_factor",
    "open_second_factor_enrolment",
    "password_reset_link",
    "reactivate_staff",
    "reset_two_factor",
    "send_password_reset",
    "set_two_factor_requirement",
    "unlock_staff",
    "update_clinic_profile",
    "update_staff",
]
