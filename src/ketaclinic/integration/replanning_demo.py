"""Demo: one demo course loses a booked dose (the patient cancelled): the integration
planned after it is re-anchored to the next dose or cancelled, and therapist.rivera's work
list says so (replanning.py). Idempotent: a clinic with a plan change already is left alone.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.integration.models import PlanChange, PlannedSession
from ketaclinic.scheduling import services as scheduling


def seed(clinic: Any, patients: list[Any]) -> None:
    if PlanChange.objects.filter(clinic=clinic).exists():
        return
    desk = (
        Membership.objects.select_related("user", "clinic")
        .filter(clinic=clinic, role="front_desk", is_active=True)
        .order_by("pk")
        .first()
    )
    if desk is None:
        return
    # A course whose last planned integration session is booked ahead.
    planned = (
        PlannedSession.objects.filter(
            clinic=clinic,
            kind="integration",
            patient__in=patients,
            appointment__status="booked",
            dosing__status="booked",
            dosing__start__gt=timezone.now(),
        )
        .select_related("dosing")
        .order_by("-dosing_number", "pk")
        .first()
    )
    if planned is None:
        return
    last = planned.dosing
    assert last is not None
    try:
        scheduling.update_appointment(
            actor=Actor(user=desk.user, membership=desk),
            appointment=last,
            status="cancelled",
            reason="The patient is travelling that week (demo).",
        )
    except ValidationError:
        return
