"""Intake facts: the fixed vocabulary eligibility rules read (docs/clinical-sources.md §2 (The facts screening reads)), and its validation.

A screening evaluates one patient's facts at one time. A fact that is absent (or
given as ``None``) is *unknown*, never false: the engine reports it as missing
instead of assuming the patient is free of the condition.

List facts carry a deliberate convention. ``history: []`` means "asked, none
present", and a present ``history`` list means every history flag was asked: a flag
not in the list is *absent*, not unknown. The same holds for ``diagnoses`` and
``medications``. Forms must therefore send a list only when the whole checklist was
asked, and omit the fact otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Literal

from ketaclinic.clinical.conditions import CONDITION_CODES

__all__ = [
    "DIAGNOSES",
    "FACT_SPECS",
    "FACT_TYPES",
    "HISTORY_FLAGS",
    "MEDICATION_CLASSES",
    "SUICIDE_RISK_LEVELS",
    "FactError",
    "FactKind",
    "FactSpec",
    "Facts",
    "FactValue",
    "validate_facts",
]

FactKind = Literal["int", "number", "list", "choice"]
FactValue = int | float | str | frozenset[str]

DIAGNOSES: tuple[str, ...] = CONDITION_CODES
"""Condition codes allowed in `diagnoses` (docs/clinical-sources.md §1 (Conditions and their codes))."""

HISTORY_FLAGS: tuple[str, ...] = (
    "psychosis_current",
    "psychosis_history",
    "mania_current",
    "substance_use_active",
    "substance_use_history",
    "ketamine_misuse_history",
    "pregnant",
    "breastfeeding",
    "uncontrolled_hypertension",
    "hypertensive_encephalopathy_history",
    "aneurysmal_vascular_disease",
    "arteriovenous_malformation",
    "intracerebral_hemorrhage_history",
    "unstable_cardiovascular_disease",
    "increased_intracranial_pressure",
    "increased_intraocular_pressure",
    "hepatic_impairment_moderate",
    "hepatic_impairment_severe",
    "interstitial_cystitis",
    "cognitive_impairment",
    "ketamine_hypersensitivity",
    "esketamine_hypersensitivity",
)
"""Flags allowed in `history` (docs/clinical-sources.md §2 (The facts screening reads))."""

MEDICATION_CLASSES: tuple[str, ...] = (
    "benzodiazepine",
    "nonbenzo_hypnotic",
    "opioid",
    "psychostimulant",
    "maoi",
    "lamotrigine",
    "oral_antidepressant",
    "antihypertensive",
)
"""Classes allowed in `medications` (docs/clinical-sources.md §2 (The facts screening reads))."""

SUICIDE_RISK_LEVELS: tuple[str, ...] = ("none", "low", "moderate", "high")
"""Values of `suicide_risk`, lowest first (C-SSRS screen, docs/clinical-sources.md §6.2 (C-SSRS screener))."""


@dataclass(frozen=True, slots=True)
class FactSpec:
    """How one fact is typed, what it may contain and its plausible range."""

    name: str
    kind: FactKind
    meaning: str
    unit: str = ""
    vocabulary: tuple[str, ...] = ()
    # Inclusive plausibility limits: outside them a value is an entry error (docs/clinical-sources.md §5 (Monitoring thresholds)).
    minimum: float | None = None
    maximum: float | None = None
    source: str = ""


# Plausibility limits are docs/clinical-sources.md §5 (Monitoring thresholds)'s "(policy)" column; the age limit is our policy.
_SPECS = (
    FactSpec("age", "int", "age in years at evaluation", "years", (), 0, 130, "policy"),
    FactSpec("diagnoses", "list", "current diagnoses", "", DIAGNOSES),
    FactSpec(
        "failed_adequate_trials",
        "int",
        "antidepressant trials with inadequate response, current episode",
        "trials",
        (),
        0,
        None,
    ),
    FactSpec("history", "list", "present or past conditions", "", HISTORY_FLAGS),
    FactSpec("medications", "list", "current medication classes", "", MEDICATION_CLASSES),
    FactSpec("systolic_bp", "int", "latest seated systolic BP", "mmHg", (), 50, 300, "policy"),
    FactSpec("diastolic_bp", "int", "latest seated diastolic BP", "mmHg", (), 20, 200, "policy"),
    FactSpec("heart_rate", "int", "heart rate", "bpm", (), 20, 250, "policy"),
    FactSpec("weight_kg", "number", "body weight", "kg", (), 25, 350, "policy"),
    FactSpec("height_cm", "number", "height", "cm", (), 100, 250, "policy"),
    FactSpec("suicide_risk", "choice", "latest C-SSRS screen risk level", "", SUICIDE_RISK_LEVELS),
)

FACT_SPECS: Mapping[str, FactSpec] = MappingProxyType({s.name: s for s in _SPECS})
"""Fact name -> its spec, in docs/clinical-sources.md §2 (The facts screening reads) order."""

FACT_TYPES: Mapping[str, FactKind] = MappingProxyType({s.name: s.kind for s in _SPECS})
"""Fact name -> "int", "number", "list" or "choice" (for forms and API schemas)."""


class FactError(ValueError):
    """Raised for an intake fact that is unknown, mistyped or impossible; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Facts:
    """One patient's validated intake facts; None means unknown (never false)."""

    age: int | None = None
    diagnoses: frozenset[str] | None = None
    failed_adequate_trials: int | None = None
    history: frozenset[str] | None = None
    medications: frozenset[str] | None = None
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    heart_rate: int | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    suicide_risk: str | None = None

    def get(self, name: str) -> FactValue | None:
        """Return the value of fact `name`, or None when it is unknown."""
        if name not in FACT_SPECS:
            raise KeyError(name)
        value: FactValue | None = getattr(self, name)
        return value

    def known(self) -> tuple[str, ...]:
        """Return the names of the facts that are known, in docs/clinical-sources.md §2 (The facts screening reads) order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def to_dict(self) -> dict[str, object]:
        """Return the known facts as plain JSON-ready data (lists sorted)."""
        out: dict[str, object] = {}
        for name in self.known():
            value = getattr(self, name)
            out[name] = sorted(value) if isinstance(value, frozenset) else value
        return out


def _check_number(spec: FactSpec, value: object) -> int | float:
    # bool is a subclass of int, but True is not an age.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FactError(spec.name, f"must be a number, not {type(value).__name__}")
    if spec.kind == "int" and not isinstance(value, int):
        raise FactError(spec.name, f"must be a whole number, not {value!r}")
    if not math.isfinite(value):
        raise FactError(spec.name, f"must be a finite number, not {value!r}")
    unit = f" {spec.unit}" if spec.unit else ""
    low, high = spec.minimum, spec.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            limits = f"at least {low:g}{unit}"
        else:
            limits = f"between {low:g} and {high:g}{unit}"
        raise FactError(
            spec.name, f"{value!r}{unit} is not plausible (must be {limits}); check the entry"
        )
    return value


def _check_list(spec: FactSpec, value: object) -> frozenset[str]:
    # A bare string is iterable but is not a list of codes ("mdd" would become m, d, d).
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
        raise FactError(spec.name, f"must be a list, not {type(value).__name__}")
    members: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise FactError(spec.name, f"members must be strings, not {type(item).__name__}")
        if item not in spec.vocabulary:
            raise FactError(
                spec.name,
                f"unknown value {item!r}; allowed: {', '.join(spec.vocabulary)}",
            )
        members.add(item)
    return frozenset(members)


def _check_choice(spec: FactSpec, value: object) -> str:
    if not isinstance(value, str):
        raise FactError(spec.name, f"must be a string, not {type(value).__name__}")
    if value not in spec.vocabulary:
        raise FactError(
            spec.name, f"unknown value {value!r}; allowed: {', '.join(spec.vocabulary)}"
        )
    return value


def validate_facts(raw: Mapping[str, object]) -> Facts:
    """Return validated Facts from plain data; raise FactError naming the first bad fact.

    Absent facts, and facts given as None, are unknown. Facts are checked in
    docs/clinical-sources.md §2 (The facts screening reads) order, so the error for a given input is always the same one.
    """
    unknown_names = sorted((name for name in raw if name not in FACT_SPECS), key=str)
    if unknown_names:
        name = unknown_names[0]
        raise FactError(str(name), f"unknown fact name; known facts: {', '.join(FACT_SPECS)}")
    values: dict[str, FactValue] = {}
    for spec in _SPECS:
        value = raw.get(spec.name)
        if value is None:
            continue
        if spec.kind in ("int", "number"):
            number = _check_number(spec, value)
            values[spec.name] = float(number) if spec.kind == "number" else number
        elif spec.kind == "list":
            values[spec.name] = _check_list(spec, value)
        else:
            values[spec.name] = _check_choice(spec, value)
    systolic, diastolic = values.get("systolic_bp"), values.get("diastolic_bp")
    if isinstance(systolic, int) and isinstance(diastolic, int) and systolic <= diastolic:
        raise FactError(
            "systolic_bp",
            f"{systolic} mmHg must be greater than diastolic_bp {diastolic} mmHg; check the entry",
        )
    return Facts(**values)  # type: ignore[arg-type]
