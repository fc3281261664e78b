"""The gate's structured items: a stable code with the message users see."""

from __future__ import annotations

from datetime import date

import pytest

from ketaclinic.screening import gates

ON = date(2026, 12, 1)


@pytest.mark.django_db
def test_each_missing_item_carries_its_code_and_the_same_message(patient):
    items = gates.missing_items(patient=patient, family="esketamine-nasal", on=ON)
    assert items == [
        gates.GateItem(
            "eligibility",
            "An eligibility evaluation for Esketamine nasal spray accepted by a physician.",
        ),
        gates.GateItem("consent", "A signed consent for Esketamine nasal spray."),
        gates.GateItem(
            "rems_enrollment",
            "The REMS patient enrollment signed by the patient and the prescriber.",
        ),
    ]
    assert gates.missing_for_course(patient=patient, family="esketamine-nasal", on=ON) == [
        item.message for item in items
    ]


@pytest.mark.django_db
def test_a_withdrawn_consent_is_a_consent_item(patient, make_screening, make_consent):
    make_screening(patient, decision="accept")
    make_consent(patient, withdrawn=True)
    assert gates.missing_items(patient=patient, family="ketamine-iv-mood", on=ON) == [
        gates.GateItem(
            "consent", "A signed consent for IV ketamine (mood) (the latest was withdrawn)."
        )
    ]
