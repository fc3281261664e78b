"""The condition code table (DOMAIN §1) and the ICD-10-CM mapping."""

from __future__ import annotations

import itertools

import pytest

from ketaclinic.clinical.conditions import CONDITION_CODES, CONDITIONS, condition_for_icd10cm
from ketaclinic.clinical.eligibility import DIAGNOSES


def test_it_lists_the_domain_conditions_in_order():
    assert CONDITION_CODES == (
        "mdd",
        "bipolar_depression",
        "ptsd",
        "gad",
        "ocd",
        "fibromyalgia",
        "crps",
        "neuropathic_pain",
        "suicidal_ideation",
    )
    assert DIAGNOSES == CONDITION_CODES


def test_it_carries_the_snomed_codes_domain_gives_and_no_others():
    assert {code: c.snomed_ct for code, c in CONDITIONS.items()} == {
        "mdd": "370143000",
        "bipolar_depression": "13746004",
        "ptsd": "47505003",
        "gad": "21897009",
        "ocd": None,
        "fibromyalgia": "203082005",
        "crps": None,
        "neuropathic_pain": None,
        "suicidal_ideation": None,
    }


def test_it_marks_exactly_the_codes_domain_marks_verify():
    assert {code: c.verify for code, c in CONDITIONS.items() if c.verify} == {
        "ocd": ("snomed_ct",),
        "crps": ("snomed_ct",),
        "neuropathic_pain": ("snomed_ct", "icd10cm"),
        "suicidal_ideation": ("snomed_ct",),
    }


def test_it_shows_icd10cm_as_domain_writes_it():
    assert {code: c.icd10cm for code, c in CONDITIONS.items()} == {
        "mdd": "F32.x, F33.x",
        "bipolar_depression": "F31.3x–F31.5",
        "ptsd": "F43.10–F43.12",
        "gad": "F41.1",
        "ocd": "F42.x",
        "fibromyalgia": "M79.7",
        "crps": "G90.5x",
        "neuropathic_pain": "G89.x",
        "suicidal_ideation": "R45.851",
    }


def test_it_names_the_broader_snomed_concept_for_bipolar_depression():
    assert CONDITIONS["bipolar_depression"].snomed_ct_display == "Bipolar disorder"


def test_every_condition_has_a_display_name_and_a_source():
    for condition in CONDITIONS.values():
        assert condition.display
        assert condition.source == "DOMAIN §1; clinical-sources §3.13"


@pytest.mark.parametrize(
    ("icd10", "expected"),
    [
        ("F32.9", "mdd"),
        ("F33.1", "mdd"),
        ("f331", "mdd"),
        (" F32.A ", "mdd"),
        ("F31.30", "bipolar_depression"),
        ("F31.32", "bipolar_depression"),
        ("F31.4", "bipolar_depression"),
        ("F31.5", "bipolar_depression"),
        ("F31.2", None),  # manic episode with psychosis: not a depressive episode
        ("F31.9", None),  # bipolar, unspecified
        ("F43.10", "ptsd"),
        ("F43.12", "ptsd"),
        ("F43.0", None),  # acute stress reaction
        ("F41.1", "gad"),
        ("F41.0", None),  # panic disorder
        ("F42.2", "ocd"),
        ("M79.7", "fibromyalgia"),
        ("G90.50", "crps"),
        ("G90.511", "crps"),
        ("G90.59", "crps"),
        ("G90.4", None),
        ("G89.29", "neuropathic_pain"),
        ("R45.851", "suicidal_ideation"),
        ("R45.85", None),  # the parent category, not the code
        ("", None),
        ("Z00.00", None),
    ],
)
def test_it_maps_icd10cm_codes_to_our_conditions(icd10, expected):
    assert condition_for_icd10cm(icd10) == expected


def test_no_icd10cm_prefix_belongs_to_two_conditions():
    pairs = [(c.code, p) for c in CONDITIONS.values() for p in c.icd10cm_prefixes]
    for (code_a, a), (code_b, b) in itertools.combinations(pairs, 2):
        if code_a != code_b:
            assert not a.startswith(b) and not b.startswith(a), (code_a, code_b)


def test_prefixes_are_stored_without_dots_in_upper_case():
    for condition in CONDITIONS.values():
        for prefix in condition.icd10cm_prefixes:
            assert prefix == prefix.upper().replace(".", "")
