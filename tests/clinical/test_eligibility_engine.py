"""The engine: Kleene three-valued logic, missing facts and the decision."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.eligibility import (
    Evaluation,
    Finding,
    RuleSet,
    evaluate,
    evaluate_condition,
    validate_facts,
)
from ketaclinic.clinical.eligibility.schema import AllOf, AnyOf, FactTest, NotOf

# One fact per leaf so that "unknown" leaves are independent of the known ones.
FACTS = validate_facts({"age": 45, "heart_rate": 72})
LEAF = {
    True: FactTest.model_validate({"fact": "age", "ge": 18}),
    False: FactTest.model_validate({"fact": "heart_rate", "gt": 100}),
    None: FactTest.model_validate({"fact": "systolic_bp", "gt": 140}),
}
VALUES = (True, False, None)


def all_(*parts):
    return AllOf.model_validate({"all": list(parts)})


def any_(*parts):
    return AnyOf.model_validate({"any": list(parts)})


def not_(part):
    return NotOf.model_validate({"not": part})


def kleene_and(a, b):
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def kleene_or(a, b):
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def test_the_leaves_have_the_intended_values():
    assert {v: evaluate_condition(leaf, FACTS) for v, leaf in LEAF.items()} == {
        True: True,
        False: False,
        None: None,
    }


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (True, True, True),
        (True, False, False),
        (True, None, None),
        (False, True, False),
        (False, False, False),
        (False, None, False),
        (None, True, None),
        (None, False, False),
        (None, None, None),
    ],
)
def test_all_follows_the_kleene_table(a, b, expected):
    assert evaluate_condition(all_(LEAF[a], LEAF[b]), FACTS) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (True, True, True),
        (True, False, True),
        (True, None, True),
        (False, True, True),
        (False, False, False),
        (False, None, None),
        (None, True, True),
        (None, False, None),
        (None, None, None),
    ],
)
def test_any_follows_the_kleene_table(a, b, expected):
    assert evaluate_condition(any_(LEAF[a], LEAF[b]), FACTS) is expected


@pytest.mark.parametrize(("a", "expected"), [(True, False), (False, True), (None, None)])
def test_not_follows_the_kleene_table(a, expected):
    assert evaluate_condition(not_(LEAF[a]), FACTS) is expected


def test_no_condition_is_true():
    assert evaluate_condition(None, FACTS) is True


def test_single_part_all_and_any_equal_their_part():
    for value in VALUES:
        assert evaluate_condition(all_(LEAF[value]), FACTS) is value
        assert evaluate_condition(any_(LEAF[value]), FACTS) is value


def trees(depth: int = 3):
    leaves = st.sampled_from(VALUES)
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.tuples(st.just("all"), st.lists(kids, min_size=1, max_size=3)),
            st.tuples(st.just("any"), st.lists(kids, min_size=1, max_size=3)),
            st.tuples(st.just("not"), kids),
        ),
        max_leaves=8,
    )


def build(tree):
    if not isinstance(tree, tuple):
        return LEAF[tree]
    kind, parts = tree
    if kind == "not":
        return not_(build(parts))
    built = [build(p) for p in parts]
    return all_(*built) if kind == "all" else any_(*built)


def reference(tree):
    if not isinstance(tree, tuple):
        return tree
    kind, parts = tree
    if kind == "not":
        value = reference(parts)
        return None if value is None else not value
    values = [reference(p) for p in parts]
    op = kleene_and if kind == "all" else kleene_or
    result = values[0]
    for value in values[1:]:
        result = op(result, value)
    return result


@given(trees())
def test_nested_conditions_match_a_reference_kleene_evaluator(tree):
    assert evaluate_condition(build(tree), FACTS) is reference(tree)


@given(trees(), trees())
def test_de_morgan_holds_in_three_valued_logic(a, b):
    left = evaluate_condition(not_(all_(build(a), build(b))), FACTS)
    right = evaluate_condition(any_(not_(build(a)), not_(build(b))), FACTS)
    assert left is right


# --- Decisions on small synthetic rule sets -------------------------------------------


def ruleset(*rules: dict) -> RuleSet:
    return RuleSet.model_validate(
        {
            "family": "test-family",
            "version": 3,
            "title": "Test",
            "sources": [{"key": "TEST-SOURCE", "title": "a test"}],
            "rules": list(rules),
        }
    )


def rule(rule_id: str, level: str, when: dict | None = None) -> dict:
    data = {"id": rule_id, "level": level, "message": f"{rule_id} says", "source": "TEST-SOURCE"}
    if when is not None:
        data["when"] = when
    return data


PREGNANT = {"fact": "history", "contains": "pregnant"}
AVM = {"fact": "history", "contains": "arteriovenous_malformation"}
ADULT = {"fact": "age", "ge": 18}
BP_HIGH = {"any": [{"fact": "systolic_bp", "ge": 180}, {"fact": "diastolic_bp", "ge": 110}]}


def test_an_exclude_that_fires_makes_the_patient_ineligible():
    rs = ruleset(rule("x-avm", "exclude", AVM), rule("x-preg", "caution", PREGNANT))
    result = evaluate(rs, validate_facts({"history": ["arteriovenous_malformation", "pregnant"]}))
    assert result == Evaluation(
        family="test-family",
        version=3,
        decision="ineligible",
        findings=(
            Finding("x-avm", "exclude", "x-avm says", "TEST-SOURCE"),
            Finding("x-preg", "caution", "x-preg says", "TEST-SOURCE"),
        ),
        missing=(),
    )


def test_an_exclude_over_an_unknown_fact_does_not_fire_but_blocks_eligible():
    result = evaluate(ruleset(rule("x-avm", "exclude", AVM)), validate_facts({}))
    assert result.decision == "needs_review"
    assert result.findings == ()
    assert result.missing == ("history",)


def test_a_caution_that_fires_needs_review():
    result = evaluate(
        ruleset(rule("x-preg", "caution", PREGNANT)), validate_facts({"history": ["pregnant"]})
    )
    assert result.decision == "needs_review"
    assert [f.rule for f in result.findings] == ["x-preg"]


def test_a_require_that_holds_is_silent():
    result = evaluate(ruleset(rule("x-adult", "require", ADULT)), validate_facts({"age": 18}))
    assert (result.decision, result.findings, result.missing) == ("eligible", (), ())


def test_a_require_that_fails_is_a_finding_at_level_require():
    result = evaluate(ruleset(rule("x-adult", "require", ADULT)), validate_facts({"age": 17}))
    assert result.decision == "needs_review"
    assert result.findings == (Finding("x-adult", "require", "x-adult says", "TEST-SOURCE"),)
    assert result.missing == ()


def test_a_require_over_an_unknown_fact_reports_it_missing():
    result = evaluate(ruleset(rule("x-adult", "require", ADULT)), validate_facts({}))
    assert (result.decision, result.findings, result.missing) == ("needs_review", (), ("age",))


def test_info_rules_fire_but_never_change_the_decision():
    rs = ruleset(rule("x-info", "info", PREGNANT), rule("x-always", "info"))
    fired = evaluate(rs, validate_facts({"history": ["pregnant"]}))
    assert fired.decision == "eligible"
    assert [f.rule for f in fired.findings] == ["x-info", "x-always"]
    unknown = evaluate(rs, validate_facts({}))
    assert (unknown.decision, unknown.missing) == ("eligible", ())
    assert [f.rule for f in unknown.findings] == ["x-always"]


def test_only_the_unknown_facts_that_matter_are_missing():
    rs = ruleset(rule("x-bp", "exclude", BP_HIGH))
    # 120 is not >= 180, so only the unknown diastolic can still decide.
    assert evaluate(rs, validate_facts({"systolic_bp": 120})).missing == ("diastolic_bp",)
    # 185 decides the `any` by itself: nothing is missing.
    decided = evaluate(rs, validate_facts({"systolic_bp": 185}))
    assert (decided.decision, decided.missing) == ("ineligible", ())
    assert evaluate(rs, validate_facts({})).missing == ("diastolic_bp", "systolic_bp")


def test_a_false_part_of_all_settles_it_without_missing_facts():
    rs = ruleset(rule("x-both", "caution", {"all": [ADULT, PREGNANT]}))
    result = evaluate(rs, validate_facts({"age": 16}))
    assert (result.decision, result.missing) == ("eligible", ())


def test_findings_keep_rule_file_order():
    rs = ruleset(
        rule("x-c", "caution", PREGNANT),
        rule("x-a", "info"),
        rule("x-b", "exclude", AVM),
    )
    result = evaluate(rs, validate_facts({"history": ["pregnant", "arteriovenous_malformation"]}))
    assert [f.rule for f in result.findings] == ["x-c", "x-a", "x-b"]


def test_to_dict_gives_the_stored_shape():
    rs = ruleset(rule("x-preg", "caution", PREGNANT), rule("x-adult", "require", ADULT))
    result = evaluate(rs, validate_facts({"history": ["pregnant"]}))
    assert result.to_dict() == {
        "protocol": "test-family",
        "ruleset_version": 3,
        "ruleset_hash": "",
        "decision": "needs_review",
        "findings": [
            {
                "rule": "x-preg",
                "level": "caution",
                "message": "x-preg says",
                "source": "TEST-SOURCE",
            }
        ],
        "missing": ["age"],
    }


@pytest.mark.parametrize(
    ("op", "value", "age", "expected"),
    [
        ("lt", 18, 17, True),
        ("lt", 18, 18, False),
        ("le", 18, 18, True),
        ("le", 18, 19, False),
        ("gt", 64, 65, True),
        ("gt", 64, 64, False),
        ("ge", 65, 65, True),
        ("ge", 65, 64, False),
        ("eq", 40, 40, True),
        ("eq", 40, 41, False),
    ],
)
def test_number_operators_compare_at_the_boundary(op, value, age, expected):
    test = FactTest.model_validate({"fact": "age", op: value})
    assert evaluate_condition(test, validate_facts({"age": age})) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"fact": "medications", "contains": "opioid"}, True),
        ({"fact": "medications", "contains": "maoi"}, False),
        ({"fact": "medications", "contains_any": ["maoi", "opioid"]}, True),
        ({"fact": "medications", "contains_any": ["maoi", "lamotrigine"]}, False),
        ({"fact": "medications", "contains_all": ["opioid", "benzodiazepine"]}, True),
        ({"fact": "medications", "contains_all": ["opioid", "maoi"]}, False),
        ({"fact": "suicide_risk", "eq": "moderate"}, True),
        ({"fact": "suicide_risk", "eq": "high"}, False),
        ({"fact": "suicide_risk", "in": ["moderate", "high"]}, True),
        ({"fact": "suicide_risk", "in": ["none", "low"]}, False),
    ],
)
def test_list_and_choice_operators(condition, expected):
    facts = validate_facts(
        {"medications": ["opioid", "benzodiazepine"], "suicide_risk": "moderate"}
    )
    assert evaluate_condition(FactTest.model_validate(condition), facts) is expected


def test_an_empty_list_is_a_definite_no():
    test = FactTest.model_validate({"fact": "history", "contains": "pregnant"})
    assert evaluate_condition(test, validate_facts({"history": []})) is False
    assert evaluate_condition(test, validate_facts({})) is None


def test_every_pair_of_levels_orders_the_decision():
    # exclude beats caution/require beats eligible, in any rule order.
    levels = ["exclude", "caution", "require"]
    for first, second in itertools.permutations(levels, 2):
        rs = ruleset(
            rule("x-one", first, PREGNANT if first != "require" else {"not": PREGNANT}),
            rule("x-two", second, PREGNANT if second != "require" else {"not": PREGNANT}),
        )
        result = evaluate(rs, validate_facts({"history": ["pregnant"]}))
        expected = "ineligible" if "exclude" in (first, second) else "needs_review"
        assert result.decision == expected
