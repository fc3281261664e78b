"""Demo data for this capability, called by seed_demo (idempotent).

The demo clinic's past: 160 synthetic patients treated by two physicians over the 18
months before its current patients' first visit (outcomes.synthetic), billed in the
clinic's previous system (the billing demo bills from that visit's day on). Enough for
every dashboard table and the Kaplan–Meier curve to mean something, with small groups
(pain protocols, severe adverse events) where the published snapshot must withhold counts. Then every patient's outcome rows
are rebuilt (the other demo modules write rows directly, without the services' hooks),
and one snapshot is published once, so the public page shows suppression.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.services import add_staff
from ketaclinic.outcomes import publication, upkeep
from ketaclinic.outcomes.models import Publication
from ketaclinic.outcomes.synthetic import build_history
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.demo import first_visit_day
from ketaclinic.scheduling.models import Room

PREFIX = "HX"
PATIENTS = 160
MONTHS_BACK = 18


def seed(clinic: Any, patients: list[Any]) -> None:
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
    if not Patient.objects.filter(clinic=clinic, mrn=f"{PREFIX}00001").exists():
        second = add_staff(
            username="dr.osei",
            clinic=clinic,
            role="physician",
            first_name="Kwame",
            last_name="Osei",
            email="dr.osei@harbor.example",
        )
        physicians = [
            m.user
            for m in Membership.objects.filter(clinic=clinic, role="physician", is_active=True)
            .select_related("user")
            .order_by("pk")
        ]
        nurse = (
            Membership.objects.filter(clinic=clinic, role="nurse").select_related("user").first()
        )
        chairs = list(
            Room.objects.filter(clinic=clinic, kind="treatment_chair").order_by("position")
        )
        end = first_visit_day(clinic, patients)
        build_history(
            clinic,
            patients=PATIENTS,
            rng=random.Random(1717),
            first_day=end - timedelta(days=MONTHS_BACK * 30),
            last_day=end - timedelta(days=1),
            physicians=physicians or [second.user],
            nurse=nurse.user if nurse else physicians[0],
            chairs=chairs,
            mrn_prefix=PREFIX,
        )
    upkeep.backfill(clinic.pk)
    if not Publication.objects.filter(clinic=clinic).exists():
        admin = (
            Membership.objects.filter(clinic=clinic, role="admin")
            .select_related("user", "clinic")
            .first()
        )
        if admin is not None:
            publication.publish(actor=Actor(user=admin.user, membership=admin))
