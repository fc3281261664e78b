"""The demo loads at any time of day and on any weekday: at the minutes a planned series
session begins too, and on a Tuesday, when this week's first visits are a day old."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from ketaclinic.billing.models import Claim
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.models import ACTIVE_STATES, Administration, TreatmentSession

pytestmark = pytest.mark.django_db


def test_the_demo_loads_minutes_after_a_planned_treatment_begins(monkeypatch):
    # A Tuesday 10:05 in the demo clinic: a series session planned for 10:00 has just begun.
    now = datetime(2027, 3, 9, 10, 5, tzinfo=ZoneInfo("America/New_York")).astimezone(
        ZoneInfo("UTC")
    )
    monkeypatch.setattr(timezone, "now", lambda: now)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    just_begun = Appointment.objects.filter(
        kind="treatment", start__gt=now - timedelta(minutes=10), start__lte=now, end__gt=now
    )
    assert just_begun.exists()  # the moment this test is about
    live = TreatmentSession.objects.filter(state__in=ACTIVE_STATES)
    assert sorted(s.state for s in live) == ["dosing", "monitoring"]  # the board's two chairs
    assert all(s.dose_started_at <= now for s in live)
    # Visits more than three days old are approved and claimed, to both demo payers
    # (the courses began on Monday and there were none: tests/billing/test_demo.py).
    claims = Claim.objects.filter(clinic__slug="harbor").select_related("coverage__payer")
    assert {c.coverage.payer.kind for c in claims} == {"medicare", "commercial"}
    # Every dose given came out of a lot with enough in it, so all are on the ledger.
    given = Administration.objects.filter(given__isnull=False)
    assert given.count() > 20 and not given.filter(ledger_lot__isnull=True).exists()
