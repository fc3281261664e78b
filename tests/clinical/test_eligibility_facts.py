"""Intake fact validation: the fixed vocabulary of DOMAIN §2 and the plausibility of §5."""

from __future__ import annotations

import math

import pytest

from ketaclinic.clinical.eligibility import (
    FACT_TYPES,
    HISTORY_FLAGS,
    MEDICATION_CLASSES,
    SUICIDE_RISK_LEVELS,
    FactError,
    Facts,
    validate_facts,
)

ALICE = {
    "age": 45,
    "diagnoses": ["mdd"],
    "failed_adequate_trials": 3,
    "history": [],
    "medications": ["oral_antidepressant"],
    "systolic_bp": 128,
    "diastolic_bp": 82,
    "heart_rate": 72,
    "weight_kg": 70,
    "height_cm": 168.5,
    "suicide_risk": "none",
}


def with_(**changes: object) -> dict[str, object]:
    return {**ALICE, **changes}


def test_it_validates_a_complete_intake():
    facts = validate_facts(ALICE)
    assert facts == Facts(
        age=45,
        diagnoses=frozenset({"mdd"}),
        failed_adequate_trials=3,
        history=frozenset(),
        medications=frozenset({"oral_antidepressant"}),
        systolic_bp=128,
        diastolic_bp=82,
        heart_rate=72,
        weight_kg=70.0,
        height_cm=168.5,
        suicide_risk="none",
    )
    assert isinstance(facts.weight_kg, float)
    assert facts.to_dict() == {**ALICE, "weight_kg": 70.0}


def test_an_absent_fact_is_unknown_not_false():
    facts = validate_facts({"age": 45})
    assert facts.history is None
    assert facts.get("history") is None
    assert facts.known() == ("age",)
    assert facts.to_dict() == {"age": 45}


def test_none_is_read_as_unknown():
    assert validate_facts({"systolic_bp": None, "history": None}) == Facts()


def test_an_empty_history_means_asked_and_none_present():
    assert validate_facts({"history": []}).history == frozenset()


def test_duplicate_list_members_collapse():
    assert validate_facts({"history": ["pregnant", "pregnant"]}).history == {"pregnant"}


def test_list_facts_accept_tuples_and_sets():
    assert validate_facts({"medications": ("opioid",)}).medications == {"opioid"}
    assert validate_facts({"medications": {"maoi"}}).medications == {"maoi"}


def test_get_refuses_a_name_outside_the_vocabulary():
    with pytest.raises(KeyError):
        Facts().get("blood_type")


def test_the_vocabularies_are_exactly_domain_section_2():
    assert tuple(FACT_TYPES) == (
        "age",
        "diagnoses",
        "failed_adequate_trials",
        "history",
        "medications",
        "systolic_bp",
        "diastolic_bp",
        "heart_rate",
        "weight_kg",
        "height_cm",
        "suicide_risk",
    )
    assert dict(FACT_TYPES) == {
        "age": "int",
        "diagnoses": "list",
        "failed_adequate_trials": "int",
        "history": "list",
        "medications": "list",
        "systolic_bp": "int",
        "diastolic_bp": "int",
        "heart_rate": "int",
        "weight_kg": "number",
        "height_cm": "number",
        "suicide_risk": "choice",
    }
    assert len(HISTORY_FLAGS) == 22
    assert set(HISTORY_FLAGS) >= {"pregnant", "arteriovenous_malformation", "mania_current"}
    assert MEDICATION_CLASSES == (
        "benzodiazepine",
        "nonbenzo_hypnotic",
        "opioid",
        "psychostimulant",
        "maoi",
        "lamotrigine",
        "oral_antidepressant",
        "antihypertensive",
    )
    assert SUICIDE_RISK_LEVELS == ("none", "low", "moderate", "high")


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        ({"blood_type": "A"}, "blood_type", "unknown fact name"),
        ({"Age": 45}, "Age", "unknown fact name"),
        ({"age": True}, "age", "must be a number, not bool"),
        ({"age": "45"}, "age", "must be a number, not str"),
        ({"age": 45.0}, "age", "whole number"),
        ({"failed_adequate_trials": False}, "failed_adequate_trials", "not bool"),
        ({"failed_adequate_trials": -1}, "failed_adequate_trials", "at least 0"),
        ({"systolic_bp": 128.5}, "systolic_bp", "whole number"),
        ({"weight_kg": math.nan}, "weight_kg", "finite"),
        ({"weight_kg": math.inf}, "weight_kg", "finite"),
        ({"weight_kg": "70"}, "weight_kg", "must be a number"),
        ({"diagnoses": "mdd"}, "diagnoses", "must be a list, not str"),
        ({"diagnoses": ["trd"]}, "diagnoses", "unknown value 'trd'"),
        ({"diagnoses": [1]}, "diagnoses", "must be strings"),
        ({"history": ["pregnancy"]}, "history", "unknown value 'pregnancy'"),
        ({"history": {"pregnant": True}}, "history", "must be a list, not dict"),
        ({"medications": ["ssri"]}, "medications", "unknown value 'ssri'"),
        ({"suicide_risk": "severe"}, "suicide_risk", "unknown value 'severe'"),
        ({"suicide_risk": 3}, "suicide_risk", "must be a string"),
    ],
)
def test_it_refuses_malformed_facts_naming_the_field(raw, field, says):
    with pytest.raises(FactError) as caught:
        validate_facts(raw)
    assert caught.value.field == field
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("field", "lowest", "highest"),
    [
        ("age", 0, 130),
        ("diastolic_bp", 20, 200),
        ("heart_rate", 20, 250),
        ("weight_kg", 25, 350),
        ("height_cm", 100, 250),
    ],
)
def test_it_accepts_the_plausible_limits_and_refuses_beyond(field, lowest, highest):
    assert validate_facts({field: lowest}).get(field) == lowest
    assert validate_facts({field: highest}).get(field) == highest
    for impossible in (lowest - 1, highest + 1):
        with pytest.raises(FactError) as caught:
            validate_facts({field: impossible})
        assert caught.value.field == field
        assert "not plausible" in str(caught.value)


def test_it_refuses_fractionally_implausible_weight():
    with pytest.raises(FactError, match="weight_kg"):
        validate_facts({"weight_kg": 24.9})
    assert validate_facts({"weight_kg": 350.0}).weight_kg == 350.0


def test_systolic_limits_are_50_and_300():
    assert validate_facts({"systolic_bp": 50}).systolic_bp == 50
    assert validate_facts({"systolic_bp": 300}).systolic_bp == 300
    for impossible in (49, 301):
        with pytest.raises(FactError) as caught:
            validate_facts({"systolic_bp": impossible})
        assert caught.value.field == "systolic_bp"


def test_it_refuses_a_systolic_not_above_the_diastolic():
    for systolic, diastolic in ((80, 80), (80, 90)):
        with pytest.raises(FactError) as caught:
            validate_facts({"systolic_bp": systolic, "diastolic_bp": diastolic})
        assert caught.value.field == "systolic_bp"
        assert "greater than diastolic_bp" in str(caught.value)
    assert validate_facts({"systolic_bp": 81, "diastolic_bp": 80}).systolic_bp == 81


def test_the_error_is_a_value_error_with_the_bare_message():
    with pytest.raises(ValueError) as caught:
        validate_facts(with_(heart_rate=400))
    assert isinstance(caught.value, FactError)
    assert caught.value.message.startswith("400 bpm is not plausible")


def test_the_first_bad_fact_in_domain_order_is_reported():
    with pytest.raises(FactError) as caught:
        validate_facts({"suicide_risk": "x", "age": -5})
    assert caught.value.field == "age"
