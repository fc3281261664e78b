"""Laws the eligibility engine keeps for every valid patient, checked with hypothesis."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.eligibility import (
    DECISIONS,
    DIAGNOSES,
    FACT_TYPES,
    HISTORY_FLAGS,
    MEDICATION_CLASSES,
    SUICIDE_RISK_LEVELS,
    FactError,
    Facts,
    evaluate,
    evaluate_condition,
    load_rulesets,
    validate_facts,
)
from ketaclinic.clinical.eligibility.schema import FactTest

RULESETS = load_rulesets()
FAMILIES = sorted(RULESETS)
RANK = {decision: rank for rank, decision in enumerate(DECISIONS)}

# Flags that an exclude rule of the family tests directly ({fact: history, contains: X}).
EXCLUDE_FLAGS = {
    family: sorted(
        rule.when.value
        for rule in rs.rules
        if rule.level == "exclude"
        and isinstance(rule.when, FactTest)
        and rule.when.fact == "history"
        and rule.when.op == "contains"
    )
    for family, rs in RULESETS.items()
}


def sublists(vocabulary):
    return st.lists(st.sampled_from(vocabulary), unique=True)


@st.composite
def raw_facts(draw, complete: bool = False):
    """Valid raw intake data; each fact present (complete) or present at random."""
    diastolic = draw(st.integers(20, 200))
    values = {
        "age": draw(st.integers(0, 130)),
        "diagnoses": draw(sublists(DIAGNOSES)),
        "failed_adequate_trials": draw(st.integers(0, 12)),
        "history": draw(sublists(HISTORY_FLAGS)),
        "medications": draw(sublists(MEDICATION_CLASSES)),
        "systolic_bp": draw(st.integers(max(50, diastolic + 1), 300)),
        "diastolic_bp": diastolic,
        "heart_rate": draw(st.integers(20, 250)),
        "weight_kg": draw(st.floats(25, 350)),
        "height_cm": draw(st.floats(100, 250)),
        "suicide_risk": draw(st.sampled_from(SUICIDE_RISK_LEVELS)),
    }
    if complete:
        return values
    keep = draw(st.sets(st.sampled_from(sorted(values))))
    return {name: value for name, value in values.items() if name in keep}


@st.composite
def benign_mood_patients(draw):
    """Adults under 65 with TRD, BP below 140/90, C-SSRS risk none or low, nothing in their history."""
    diastolic = draw(st.integers(50, 89))
    return validate_facts(
        {
            "age": draw(st.integers(18, 64)),
            "diagnoses": ["mdd", *draw(sublists(["gad", "ptsd", "ocd"]))],
            "failed_adequate_trials": draw(st.integers(2, 10)),
            "history": [],
            "medications": draw(sublists(["oral_antidepressant", "antihypertensive"])),
            "systolic_bp": draw(st.integers(max(90, diastolic + 1), 139)),
            "diastolic_bp": diastolic,
            "heart_rate": draw(st.integers(50, 100)),
            "weight_kg": draw(st.floats(40, 150)),
            "height_cm": draw(st.floats(140, 200)),
            "suicide_risk": draw(st.sampled_from(["none", "low"])),
        }
    )


@given(raw_facts())
def test_valid_intake_data_always_validates(raw):
    facts = validate_facts(raw)
    assert set(facts.known()) == set(raw)


@settings(max_examples=200)
@given(raw_facts(), st.sampled_from(FAMILIES))
def test_evaluate_never_raises_and_is_self_consistent(raw, family):
    result = evaluate(RULESETS[family], validate_facts(raw))
    levels = {f.level for f in result.findings}
    assert result.decision in DECISIONS
    assert (result.decision == "ineligible") == ("exclude" in levels)
    if result.decision == "eligible":
        assert result.missing == ()
        assert not levels & {"caution", "require"}
    assert list(result.missing) == sorted(set(result.missing))
    assert set(result.missing) <= set(FACT_TYPES) - set(raw)
    ids = [rule.id for rule in RULESETS[family].rules]
    positions = [ids.index(f.rule) for f in result.findings]
    assert positions == sorted(positions)


@given(raw_facts(complete=True), st.sampled_from(FAMILIES))
def test_a_fully_specified_patient_has_no_missing_facts(raw, family):
    assert evaluate(RULESETS[family], validate_facts(raw)).missing == ()


@given(
    benign_mood_patients(),
    st.sampled_from(["esketamine-nasal", "ketamine-iv-mood", "ketamine-im-mood"]),
)
def test_a_fully_specified_benign_patient_is_eligible(facts, family):
    result = evaluate(RULESETS[family], facts)
    assert (result.decision, result.missing) == ("eligible", ())
    assert {f.level for f in result.findings} <= {"info"}


@settings(max_examples=200)
@given(raw_facts(), st.sampled_from(FAMILIES), st.data())
def test_adding_an_exclude_flag_never_improves_the_decision(raw, family, data):
    flag = data.draw(st.sampled_from(EXCLUDE_FLAGS[family]))
    before = evaluate(RULESETS[family], validate_facts(raw))
    history = [*raw.get("history", []), flag]
    after = evaluate(RULESETS[family], validate_facts({**raw, "history": history}))
    assert after.decision == "ineligible"
    assert RANK[after.decision] >= RANK[before.decision]


@settings(max_examples=200)
@given(raw_facts(), st.sampled_from(FAMILIES), st.sampled_from(HISTORY_FLAGS))
def test_adding_any_history_flag_never_improves_the_decision(raw, family, flag):
    # Holds because the shipped rules only ever test history flags for presence. The
    # history is known before (an unknown history would be "missing", which a known
    # one resolves: that is an improvement, and a correct one).
    raw = {**raw, "history": raw.get("history", [])}
    before = evaluate(RULESETS[family], validate_facts(raw))
    history = sorted({*raw["history"], flag})
    after = evaluate(RULESETS[family], validate_facts({**raw, "history": history}))
    assert RANK[after.decision] >= RANK[before.decision]


@settings(max_examples=200)
@given(raw_facts(), raw_facts(complete=True), st.sampled_from(FAMILIES))
def test_what_is_decided_on_partial_facts_stays_decided_once_all_are_known(partial, rest, family):
    # Kleene soundness: a rule that was true or false with some facts unknown keeps its
    # value however the unknown facts turn out; so do the fired findings.
    completed_raw = {**rest, **partial}
    assume(completed_raw["systolic_bp"] > completed_raw["diastolic_bp"])
    partial_facts, complete_facts = validate_facts(partial), validate_facts(completed_raw)
    for rule in RULESETS[family].rules:
        value = evaluate_condition(rule.when, partial_facts)
        if value is not None:
            assert evaluate_condition(rule.when, complete_facts) is value, rule.id
    early = evaluate(RULESETS[family], partial_facts)
    late = evaluate(RULESETS[family], complete_facts)
    assert set(early.findings) <= set(late.findings)
    if early.decision == "ineligible":
        assert late.decision == "ineligible"


@given(st.sampled_from(sorted(FACT_TYPES)), st.integers(-1000, 1000) | st.floats(allow_nan=False))
def test_validation_either_accepts_a_number_or_names_the_field(name, value):
    try:
        facts = validate_facts({name: value})
    except FactError as error:
        assert error.field == name
    else:
        assert isinstance(facts, Facts)
        assert facts.get(name) == value


@given(raw_facts())
def test_to_dict_round_trips(raw):
    facts = validate_facts(raw)
    assert validate_facts(facts.to_dict()) == facts
    assert replace(facts) == facts
