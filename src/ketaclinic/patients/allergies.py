"""The allergy state of the chart header: a list, "no known allergies", or what intake said.

Three answers a header can give, most certain first: the active Allergy rows; "No known
allergies" (NKDA), recorded by a clinician; the patient's own words from the intake,
shown as reported until a clinician records them. Nothing at all is "not recorded".
The intake's weight and height (measured by staff) become the chart's measurements
when they are newer than what the chart has.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.patients.changes import patient_changed
from ketaclinic.patients.models import (
    HEIGHT_CM_RANGE,
    WEIGHT_KG_RANGE,
    Allergy,
    Patient,
)

# What people write for "none" on an allergy line (NKDA = no known drug allergies).
NONE_WORDS = re.compile(
    r"^(none|no|nil|nkda|nka|nkfda|n/a|no known( drug)? allergies|no allergies)[.!]?$", re.I
)


def says_none(text: str) -> bool:
    """True when an allergy answer says there are none ("None", "NKDA", "no known allergies")."""
    return bool(NONE_WORDS.match(" ".join((text or "").split())))


@transaction.atomic
def set_no_known_allergies(*, actor: Actor, patient: Patient) -> None:
    """Record "no known allergies"; refused while an allergy is on the active list."""
    actor.check("clinical.edit")
    locked = Patient.objects.select_for_update().get(pk=patient.pk, clinic=actor.clinic)
    if Allergy.objects.filter(patient=locked, is_active=True).exists():
        raise ValidationError(
            {
                "no_known_allergies": "An allergy is on the list: mark it inactive first if it "
                "was recorded in error."
            }
        )
    # The clinician has reviewed what the intake reported (the intake version keeps it).
    Patient.objects.filter(pk=locked.pk).update(
        no_known_allergies=True, allergies_reported="", version=F("version") + 1
    )
    record(actor, "update", patient_id=patient.pk, obj=locked, detail={"allergies": "nkda"})
    patient_changed(patient.pk)


def allergy_added(patient: Patient) -> None:
    """An allergy on the list ends "no known allergies" (called in the adding transaction)."""
    Patient.objects.filter(pk=patient.pk, no_known_allergies=True).update(
        no_known_allergies=False, version=F("version") + 1
    )


def _number(raw: Any, low: Decimal, high: Decimal) -> Decimal | None:
    try:
        value = Decimal(str(raw)).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return value if low <= value <= high else None


def take_intake_answers(*, patient: Patient, data: dict[str, Any], on: date, staff: bool) -> None:
    """Carry the intake's allergy answer (and, from staff, weight and height) to the chart.

    Runs inside the intake's own transaction with the patient row locked. The weight
    replaces the chart's only when it is at least as new (an old intake re-saved does
    not undo a later weighing). The patient's own words never clear a listed allergy.
    """
    changes: dict[str, Any] = {}
    text = " ".join(str(data.get("allergies") or "").split())
    if text and says_none(text):
        if not Allergy.objects.filter(patient=patient, is_active=True).exists():
            changes.update(no_known_allergies=True, allergies_reported="")
    elif text:
        # A newly reported allergy ends an earlier "none known": the header must show it.
        changes.update(
            allergies_reported=text[:4000], allergies_reported_on=on, no_known_allergies=False
        )
    if staff:
        current = Patient.objects.values("weight_measured_on", "height_measured_on").get(
            pk=patient.pk
        )
        weight = _number(data.get("weight_kg"), *WEIGHT_KG_RANGE)
        if weight is not None and (
            current["weight_measured_on"] is None or current["weight_measured_on"] <= on
        ):
            changes.update(weight_kg=weight, weight_measured_on=on)
        height = _number(data.get("height_cm"), *HEIGHT_CM_RANGE)
        if height is not None and (
            current["height_measured_on"] is None or current["height_measured_on"] <= on
        ):
            changes.update(height_cm=height, height_measured_on=on)
    if changes:
        Patient.objects.filter(pk=patient.pk).update(**changes, version=F("version") + 1)
        patient_changed(patient.pk)
