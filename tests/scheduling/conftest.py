"""A small floor: three chairs, one consult room, open Mon-Fri 08-18, one nurse on shift."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from ketaclinic.accounts.models import Clinic
from ketaclinic.scheduling import services
from tests import builders

actor = builders.actor


def next_monday(weeks_ahead: int = 1) -> date:
    """The Monday `weeks_ahead` weeks after this one, counted from the clinic's date."""
    today = builders.clinic_today()
    return today + timedelta(days=7 * weeks_ahead - today.weekday())


def at(clinic, day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=clinic.tz)


@pytest.fixture
def floor(clinic, staff):
    return builders.floor(clinic, staff)


@pytest.fixture
def no_gate(monkeypatch):
    """Until a test says otherwise, nothing is missing for a course (screening is tested there)."""
    monkeypatch.setattr(services.gates, "missing_for_course", lambda **kw: [])


@pytest.fixture
def course(staff, patient):
    return services.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="ketamine-iv-mood",
        start_date=next_monday(),
        dose_mg_per_kg=Decimal("0.5"),
    )


@pytest.fixture
def as_if_today(monkeypatch):
    """as_if_today(day): the clinic's today is `day` (check-in is only possible on the day)."""

    def _pretend(day: date) -> None:
        monkeypatch.setattr(Clinic, "today", lambda clinic: day)

    return _pretend
