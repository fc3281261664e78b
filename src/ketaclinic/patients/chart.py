"""The sections other apps add to the patient chart, each with a read function of its app.

Patients sits below every app that adds a section (measures, screening, scheduling,
treatment, integration), so it cannot import them: each registers its read function from
its `AppConfig.ready()`, and the chart view calls them all (`sections_for`) and hands the
results to the template as `sections.<name>`. Template tags only lay the data out; they
run no queries of their own.

A read function gets the actor, the patient and the actions the actor's role allows, and
returns the section's data, or None when the role sees nothing of it. It writes no audit
event: the chart view has audited the read of the chart once (`get_patient_for(read=)`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.roles import actions_for
from ketaclinic.patients.models import Patient

ChartRead = Callable[[Actor, Patient, frozenset[str]], dict[str, Any] | None]

SECTIONS: dict[str, ChartRead] = {}


def register(name: str, read: ChartRead) -> None:
    """Add (or replace) the chart section `name`, shown as `sections.<name>`."""
    SECTIONS[name] = read


def sections_for(actor: Actor, patient: Patient) -> dict[str, dict[str, Any] | None]:
    """Every registered section's data for this chart, read as this actor."""
    allowed = frozenset(actions_for(actor.role))
    return {name: read(actor, patient, allowed) for name, read in SECTIONS.items()}
