"""The intake record's shape, its validation, and how it becomes screening facts.

An intake version's `data` is plain JSON:

    {
      "diagnoses": ["mdd"],                       # absent: not asked
      "trials_asked": true,
      "trials": [{"drug": "sertraline", "dose": "150 mg", "weeks": 8,
                  "adequate_dose": true, "response": "none"}],
      "psychiatric_history": "...", "substance_use": "...", "allergies": "...",
      "history_asked": true, "history": ["psychosis_history"],    # docs/clinical-sources.md §2 (The facts screening reads) flags
      "medications_asked": true, "medications": ["benzodiazepine"],
      "systolic_bp": 128, "diastolic_bp": 82, "heart_rate": 72,
      "weight_kg": 70.0, "height_cm": 165.0,
      "suicide_risk": "low"
    }

A checklist (history flags, medication classes, trials) counts only when it was
*asked*: a present list means every item was asked, so an unticked flag is absent;
an unasked checklist stays unknown (facts.py explains the convention). Pregnancy and
breastfeeding are history flags (`pregnant`, `breastfeeding`), shown as their own
section of the form.

`failed_adequate_trials` is derived, never typed in. A trial counts when the dose was
adequate (the clinician's judgement, ticked per trial), it lasted at least
MIN_ADEQUATE_WEEKS weeks, and the response was inadequate (`partial` or `none`).
A trial stopped because it was `not_tolerated` is not an adequate trial and does not
count. The TRD definition [SPRAVATO-LABEL; clinical-sources §1.1] says "adequate dose
and duration" without giving a number of weeks: 6 weeks is our policy default,
following the usual trial practice (the esketamine TRD trials required at least
6 weeks at an adequate dose [verify]); change MIN_ADEQUATE_WEEKS to tighten it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError

from ketaclinic.clinical.eligibility import (
    DIAGNOSES,
    FACT_SPECS,
    HISTORY_FLAGS,
    MEDICATION_CLASSES,
    SUICIDE_RISK_LEVELS,
    FactError,
    Facts,
    validate_facts,
)

MIN_ADEQUATE_WEEKS = 6  # policy; see the module docstring
RESPONSES = ("adequate_response", "partial", "none", "not_tolerated")
RESPONSE_LABELS = {
    "adequate_response": "Adequate response",
    "partial": "Partial response",
    "none": "No response",
    "not_tolerated": "Not tolerated",
}
INADEQUATE = ("partial", "none")
TEXT_FIELDS = ("psychiatric_history", "substance_use", "allergies")
NUMBER_FACTS = ("systolic_bp", "diastolic_bp", "heart_rate", "weight_kg", "height_cm")
# What a patient may fill in through the link: the history, never vitals or risk.
PATIENT_FIELDS = (
    "trials_asked",
    "trials",
    "psychiatric_history",
    "substance_use",
    "allergies",
    "history_asked",
    "history",
    "medications_asked",
    "medications",
)
MAX_TEXT = 4000
MAX_TRIALS = 30


def _error(field: str, message: str) -> ValidationError:
    return ValidationError({field: message})


def _list(raw: dict[str, Any], field: str, vocabulary: tuple[str, ...]) -> list[str]:
    value = raw.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(field, "Must be a list of codes.")
    unknown = [v for v in value if v not in vocabulary]
    if unknown:
        raise _error(field, f"Unknown value {unknown[0]!r}.")
    return sorted(set(value), key=vocabulary.index)


def _trial(index: int, raw: object) -> dict[str, Any]:
    where = f"trials.{index}"
    if not isinstance(raw, dict):
        raise _error(where, "Each trial must be an object.")
    drug = raw.get("drug")
    if not isinstance(drug, str) or not drug.strip():
        raise _error(f"{where}.drug", "Name the antidepressant.")
    dose = raw.get("dose", "")
    if not isinstance(dose, str) or len(dose) > 60:
        raise _error(f"{where}.dose", "The dose is text of at most 60 characters.")
    weeks = raw.get("weeks")
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 0 <= weeks <= 520:
        raise _error(f"{where}.weeks", "Weeks must be a whole number from 0 to 520.")
    adequate = raw.get("adequate_dose", False)
    if not isinstance(adequate, bool):
        raise _error(f"{where}.adequate_dose", "Must be true or false.")
    response = raw.get("response")
    if response not in RESPONSES:
        raise _error(f"{where}.response", f"Must be one of: {', '.join(RESPONSES)}.")
    return {
        "drug": drug.strip()[:120],
        "dose": dose.strip(),
        "weeks": weeks,
        "adequate_dose": adequate,
        "response": response,
    }


def trial_counts(trial: dict[str, Any]) -> bool:
    """True when a trial is an adequate one (dose, >= 6 weeks) that failed (see module doc)."""
    return (
        bool(trial["adequate_dose"])
        and trial["weeks"] >= MIN_ADEQUATE_WEEKS
        and trial["response"] in INADEQUATE
    )


def clean_intake(raw: dict[str, Any]) -> dict[str, Any]:
    """Return the intake data validated and normalised; ValidationError names the field.

    Impossible vitals (docs/clinical-sources.md §5 (Monitoring thresholds) plausibility) are refused naming the fact.
    """
    if not isinstance(raw, dict):
        raise ValidationError("The intake must be an object.")
    known = {
        "diagnoses",
        "trials_asked",
        "trials",
        "history_asked",
        "history",
        "medications_asked",
        "medications",
        "suicide_risk",
        *TEXT_FIELDS,
        *NUMBER_FACTS,
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _error(unknown[0], "Unknown intake field.")
    data: dict[str, Any] = {}
    if raw.get("diagnoses") is not None:
        data["diagnoses"] = _list(raw, "diagnoses", DIAGNOSES)
    for flag, field, vocabulary in (
        ("history_asked", "history", HISTORY_FLAGS),
        ("medications_asked", "medications", MEDICATION_CLASSES),
    ):
        if raw.get(flag):
            data[flag] = True
            data[field] = _list(raw, field, vocabulary)
        elif raw.get(field):
            raise _error(field, "Tick the checklist as asked, or leave it empty.")
    if raw.get("trials_asked"):
        trials = raw.get("trials") or []
        if not isinstance(trials, list) or len(trials) > MAX_TRIALS:
            raise _error("trials", f"Must be a list of at most {MAX_TRIALS} trials.")
        data["trials_asked"] = True
        data["trials"] = [_trial(i, t) for i, t in enumerate(trials)]
    elif raw.get("trials"):
        raise _error("trials", "Tick the trials as asked, or leave them empty.")
    for field in TEXT_FIELDS:
        value = raw.get(field) or ""
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise _error(field, f"Text of at most {MAX_TEXT} characters.")
        if value.strip():
            data[field] = value.strip()
    risk = raw.get("suicide_risk")
    if risk not in (None, ""):
        if risk not in SUICIDE_RISK_LEVELS:
            raise _error("suicide_risk", f"Must be one of: {', '.join(SUICIDE_RISK_LEVELS)}.")
        data["suicide_risk"] = risk
    numbers = {name: raw.get(name) for name in NUMBER_FACTS if raw.get(name) not in (None, "")}
    try:
        checked = validate_facts(numbers)
    except FactError as exc:
        raise _error(exc.field, exc.message) from None
    for name in NUMBER_FACTS:
        value = checked.get(name)
        if value is not None:
            data[name] = value
    if ("systolic_bp" in data) != ("diastolic_bp" in data):
        missing = "diastolic_bp" if "systolic_bp" in data else "systolic_bp"
        raise _error(missing, "Enter both blood pressure values, or neither.")
    return data


def failed_adequate_trials(data: dict[str, Any]) -> int | None:
    """Return the derived count, or None when the trials were not asked."""
    if not data.get("trials_asked"):
        return None
    return sum(1 for trial in data.get("trials", []) if trial_counts(trial))


def raw_facts(data: dict[str, Any], *, birth_date: date | None, on: date) -> dict[str, Any]:
    """Return the docs/clinical-sources.md §2 (The facts screening reads) facts an intake states (unknowns left out), age as of `on`."""
    facts: dict[str, Any] = {}
    if birth_date is not None:
        before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
        facts["age"] = on.year - birth_date.year - int(before_birthday)
    if "diagnoses" in data:
        facts["diagnoses"] = list(data["diagnoses"])
    count = failed_adequate_trials(data)
    if count is not None:
        facts["failed_adequate_trials"] = count
    if data.get("history_asked"):
        facts["history"] = list(data.get("history", []))
    if data.get("medications_asked"):
        facts["medications"] = list(data.get("medications", []))
    for name in (*NUMBER_FACTS, "suicide_risk"):
        if data.get(name) is not None:
            facts[name] = data[name]
    return facts


def merge_facts(base: dict[str, Any], overrides: dict[str, Any]) -> Facts:
    """Return Facts from the intake's facts with `overrides` taking precedence.

    Raises FactError naming the first unknown or mistyped fact in `overrides` (checked
    alone first, so the error names the posted fact, not an intake one).
    """
    validate_facts(overrides)
    return validate_facts({**base, **overrides})


def fact_names() -> tuple[str, ...]:
    return tuple(FACT_SPECS)
