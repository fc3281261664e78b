from __future__ import annotations

from typing import cast

from django.http import HttpRequest

from ketaclinic.accounts.access import current_membership, two_factor_grace_ends
from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import actions_for


def clinic(request: HttpRequest) -> dict[str, object]:
    """The current clinic, role and the actions the role allows (to hide what it may not do)."""
    if not request.user.is_authenticated:
        return {"membership": None, "allowed": frozenset()}
    membership = current_membership(request)
    if membership is None:
        return {"membership": None, "allowed": frozenset()}
    clinic = membership.clinic
    due = None
    user = cast(User, request.user)  # authenticated, checked above
    if clinic.require_two_factor and not user.is_verified():
        due = two_factor_grace_ends(user, clinic)
    return {
        "membership": membership,
        "current_clinic": clinic,
        "allowed": actions_for(membership.role),
        "two_factor_due": due,
    }
