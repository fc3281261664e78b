"""The conditions the clinic treats, with their SNOMED CT and ICD-10-CM codes (docs/clinical-sources.md §1 (Conditions and their codes)).

Our short codes (``mdd``, ``crps`` ...) are what intake facts and eligibility rules
use; the standard codes are for records, FHIR output and superbills. Where docs/clinical-sources.md
marks a code **[verify]** the entry says so in ``verify`` and the value is a
clinic-editable default, not a fact: check it in a SNOMED CT browser or the current
ICD-10-CM tabular list before relying on it.

Treatment-resistant depression has no code of its own: it is ``mdd`` plus at least
two failed adequate antidepressant trials in the current episode [SPRAVATO-LABEL].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CONDITIONS",
    "CONDITION_CODES",
    "ClinicalCondition",
    "condition_for_icd10cm",
]

SOURCE = "DOMAIN §1; clinical-sources §3.13"


@dataclass(frozen=True, slots=True)
class ClinicalCondition:
    """One treated condition: our code, its display name and its standard codes."""

    code: str
    display: str
    # None where docs/clinical-sources.md gives no SNOMED CT code ("[verify]"): we do not guess one.
    snomed_ct: str | None
    # The SNOMED CT concept's own name where it is broader than our condition
    # (bipolar_depression maps to the parent concept "bipolar disorder").
    snomed_ct_display: str
    # ICD-10-CM as written in docs/clinical-sources.md, for display ("F32.x, F33.x").
    icd10cm: str
    # Code prefixes without the dot that belong to the condition ("F32" matches F32.9).
    icd10cm_prefixes: tuple[str, ...]
    # Which of the codes docs/clinical-sources.md marks [verify]: "snomed_ct" and/or "icd10cm".
    verify: tuple[str, ...] = ()
    source: str = SOURCE


_TABLE = (
    ClinicalCondition(
        code="mdd",
        display="Major depressive disorder (including treatment-resistant)",
        snomed_ct="370143000",
        snomed_ct_display="Major depressive disorder",
        icd10cm="F32.x, F33.x",
        icd10cm_prefixes=("F32", "F33"),
    ),
    ClinicalCondition(
        code="bipolar_depression",
        display="Bipolar disorder, depressive episode",
        snomed_ct="13746004",
        snomed_ct_display="Bipolar disorder",
        icd10cm="F31.3x–F31.5",
        icd10cm_prefixes=("F313", "F314", "F315"),
    ),
    ClinicalCondition(
        code="ptsd",
        display="Post-traumatic stress disorder",
        snomed_ct="47505003",
        snomed_ct_display="Posttraumatic stress disorder",
        icd10cm="F43.10–F43.12",
        icd10cm_prefixes=("F4310", "F4311", "F4312"),
    ),
    ClinicalCondition(
        code="gad",
        display="Generalized anxiety disorder",
        snomed_ct="21897009",
        snomed_ct_display="Generalized anxiety disorder",
        icd10cm="F41.1",
        icd10cm_prefixes=("F411",),
    ),
    ClinicalCondition(
        code="ocd",
        display="Obsessive-compulsive disorder",
        snomed_ct=None,
        snomed_ct_display="",
        # docs/clinical-sources.md gives F42.x; the F42 category also holds hoarding and excoriation
        # disorder, so a clinic may want to narrow this (flagged for review).
        icd10cm="F42.x",
        icd10cm_prefixes=("F42",),
        verify=("snomed_ct",),
    ),
    ClinicalCondition(
        code="fibromyalgia",
        display="Fibromyalgia",
        snomed_ct="203082005",
        snomed_ct_display="Fibromyalgia",
        icd10cm="M79.7",
        icd10cm_prefixes=("M797",),
    ),
    ClinicalCondition(
        code="crps",
        display="Complex regional pain syndrome",
        snomed_ct=None,
        snomed_ct_display="",
        icd10cm="G90.5x",
        icd10cm_prefixes=("G905",),
        verify=("snomed_ct",),
    ),
    ClinicalCondition(
        code="neuropathic_pain",
        display="Other neuropathic or chronic pain",
        snomed_ct=None,
        snomed_ct_display="",
        icd10cm="G89.x",
        icd10cm_prefixes=("G89",),
        verify=("snomed_ct", "icd10cm"),
    ),
    ClinicalCondition(
        code="suicidal_ideation",
        display="Suicidal ideation (with major depressive disorder)",
        snomed_ct=None,
        snomed_ct_display="",
        icd10cm="R45.851",
        icd10cm_prefixes=("R45851",),
        verify=("snomed_ct",),
    ),
)

CONDITIONS: Mapping[str, ClinicalCondition] = MappingProxyType({c.code: c for c in _TABLE})
"""Our condition code -> its entry, in docs/clinical-sources.md §1 (Conditions and their codes) order."""

CONDITION_CODES: tuple[str, ...] = tuple(CONDITIONS)
"""Our condition codes in docs/clinical-sources.md §1 (Conditions and their codes) order (the `diagnoses` fact vocabulary)."""


def condition_for_icd10cm(code: str) -> str | None:
    """Return our condition code for an ICD-10-CM code ("F33.1" or "F331"), else None.

    A match on a code marked [verify] (``CONDITIONS[c].verify``) is still returned:
    the caller shows the mark, it does not silently drop the diagnosis.
    """
    normalized = code.strip().upper().replace(".", "")
    if not normalized:
        return None
    for condition in _TABLE:
        if normalized.startswith(condition.icd10cm_prefixes):
            return condition.code
    return None
