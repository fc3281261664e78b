"""The screening demo: intakes, decisions (accepted, declined, overridden), consents."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from ketaclinic.screening.models import Consent, IntakeVersion, Screening


@pytest.mark.django_db
def test_the_demo_has_every_teaching_case():
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    assert IntakeVersion.objects.count() >= 20
    decisions = set(Screening.objects.values_list("result", "decision"))
    assert ("ineligible", "decline") in decisions
    assert ("ineligible", "override") in decisions
    assert any(d == "accept" for _, d in decisions)
    states = [c.state_on(c.clinic.today()) for c in Consent.objects.select_related("clinic")]
    assert states.count("expired") == 1 and states.count("withdrawn") == 1 and "valid" in states
