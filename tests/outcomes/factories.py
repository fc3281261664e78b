"""A small synthetic clinic history for outcome tests (outcomes.synthetic, then a backfill)."""

from __future__ import annotations

import random
from datetime import timedelta

from ketaclinic.outcomes import upkeep
from ketaclinic.outcomes.synthetic import build_history
from ketaclinic.scheduling.models import Room


def history(clinic, staff, *, patients: int = 60, seed: int = 5, prefix: str = "SY"):
    """Write `patients` synthetic histories into the clinic and build their outcome rows."""
    chairs = [
        Room.objects.get_or_create(
            clinic=clinic, name=f"Chair {n}", defaults={"kind": "treatment_chair", "position": n}
        )[0]
        for n in (1, 2, 3)
    ]
    today = clinic.today()
    built = build_history(
        clinic,
        patients=patients,
        rng=random.Random(seed),
        first_day=today - timedelta(days=400),
        last_day=today,
        physicians=[staff["physician"].user],
        nurse=staff["nurse"].user,
        chairs=chairs,
        mrn_prefix=prefix,
    )
    upkeep.backfill(clinic.pk)
    return built
