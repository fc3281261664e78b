"""The rules added by the clinical review (issue 12), each in its four decisions.

Every rule gets a patient who is eligible with it quiet, one it sends to review, one
who is ineligible (the rule's own exclusion, or the rule firing beside another one),
and one for whom the fact it reads is unknown: that patient is never eligible and the
fact is named as missing.
"""

from __future__ import annotations

import pytest

from ketaclinic.clinical.eligibility import evaluate, load_rulesets, validate_facts

from .test_eligibility_rules import ALICE, BOB

RULESETS = load_rulesets()

# Alice (esketamine: TRD, BP 128/82, C-SSRS none) and Bob (pain: CRPS), as in the rule tests.
BASE = {"esketamine-nasal": ALICE, "ketamine-iv-pain": BOB}
HYPERSENSITIVE = {"history": ["ketamine_hypersensitivity"]}

# rule -> (family, eligible, needs review, ineligible, the fact that is unknown)
CASES = {
    "ivp-exclude-under-18": (
        "ketamine-iv-pain",
        {"age": 18},
        {"age": 18, "history": ["pregnant"]},
        {"age": 17},
        "age",
    ),
    "ivp-exclude-bp-180-110": (
        "ketamine-iv-pain",
        {"systolic_bp": 139, "diastolic_bp": 89},
        {"systolic_bp": 179, "diastolic_bp": 109},
        {"systolic_bp": 182, "diastolic_bp": 100},
        "systolic_bp",
    ),
    "ivp-caution-bp-140-90": (
        "ketamine-iv-pain",
        {"systolic_bp": 139, "diastolic_bp": 89},
        {"systolic_bp": 150, "diastolic_bp": 92},
        {"systolic_bp": 150, "diastolic_bp": 92, **HYPERSENSITIVE},
        "diastolic_bp",
    ),
    "ivp-caution-substance-misuse-history": (
        "ketamine-iv-pain",
        {"history": []},
        {"history": ["ketamine_misuse_history"]},
        {"history": ["substance_use_history", "ketamine_hypersensitivity"]},
        "history",
    ),
    "ivp-caution-psychosis-history": (
        "ketamine-iv-pain",
        {"history": []},
        {"history": ["psychosis_history"]},
        {"history": ["psychosis_history", "hepatic_impairment_severe"]},
        "history",
    ),
    "ivp-caution-suicide-risk-moderate-or-high": (
        "ketamine-iv-pain",
        {"suicide_risk": "low"},
        {"suicide_risk": "moderate"},
        {"suicide_risk": "high", **HYPERSENSITIVE},
        "suicide_risk",
    ),
    "esk-caution-suicide-risk-moderate-or-high": (
        "esketamine-nasal",
        {"suicide_risk": "low"},
        {"suicide_risk": "high"},
        {"suicide_risk": "moderate", "history": ["arteriovenous_malformation"]},
        "suicide_risk",
    ),
    "esk-caution-age-65-or-older": (
        "esketamine-nasal",
        {"age": 64},
        {"age": 65},
        {"age": 72, "history": ["aneurysmal_vascular_disease"]},
        "age",
    ),
    "esk-caution-hepatic-moderate": (
        "esketamine-nasal",
        {"history": []},
        {"history": ["hepatic_impairment_moderate"]},
        {"history": ["hepatic_impairment_moderate", "esketamine_hypersensitivity"]},
        "history",
    ),
}


def run(family: str, facts: dict):
    return evaluate(RULESETS[family], validate_facts(facts))


def fired(result) -> list[str]:
    return [f.rule for f in result.findings]


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_eligible_with_the_rule_quiet(rule_id):
    family, eligible, *_ = CASES[rule_id]
    result = run(family, {**BASE[family], **eligible})
    assert rule_id not in fired(result)
    assert (result.decision, result.missing) == ("eligible", ())


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_needs_review(rule_id):
    family, _, review, *_ = CASES[rule_id]
    result = run(family, {**BASE[family], **review})
    assert (result.decision, result.missing) == ("needs_review", ())
    if RULESETS[family].rule(rule_id).level == "caution":
        assert rule_id in fired(result)
    else:  # an exclusion near its threshold stays quiet; a caution sends to review
        assert rule_id not in fired(result)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_ineligible_and_the_rule_is_named(rule_id):
    family, _, _, ineligible, _ = CASES[rule_id]
    result = run(family, {**BASE[family], **ineligible})
    assert result.decision == "ineligible"
    assert rule_id in fired(result)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_an_unknown_fact_is_missing_never_eligible(rule_id):
    family, *_, unknown = CASES[rule_id]
    facts = {name: value for name, value in BASE[family].items() if name != unknown}
    result = run(family, facts)
    assert rule_id not in fired(result)
    assert unknown in result.missing
    assert result.decision == "needs_review"


def test_every_rule_the_review_added_is_covered():
    added = {
        "ketamine-iv-pain": {
            "ivp-exclude-under-18",
            "ivp-exclude-bp-180-110",
            "ivp-caution-bp-140-90",
            "ivp-caution-substance-misuse-history",
            "ivp-caution-psychosis-history",
            "ivp-caution-suicide-risk-moderate-or-high",
        },
        "esketamine-nasal": {
            "esk-caution-suicide-risk-moderate-or-high",
            "esk-caution-age-65-or-older",
            "esk-caution-hepatic-moderate",
        },
    }
    for family, ids in added.items():
        assert ids <= {rule.id for rule in RULESETS[family].rules}
        assert ids <= set(CASES)
        for rule_id in ids:
            assert RULESETS[family].rule(rule_id).source, rule_id


def test_the_esketamine_suicide_caution_says_it_does_not_replace_hospitalisation():
    message = RULESETS["esketamine-nasal"].rule("esk-caution-suicide-risk-moderate-or-high").message
    assert "does not replace hospitalisation" in message
    assert "acute suicidal ideation or behaviour" in message


def test_the_esketamine_age_caution_names_the_labels_advice_for_older_patients():
    rule = RULESETS["esketamine-nasal"].rule("esk-caution-age-65-or-older")
    assert rule.source == "SPRAVATO-LABEL, MIMS-HK [verify]"
    assert "28 mg" in rule.message and "older patients" in rule.message


def test_a_rule_set_is_identified_by_its_file_hash_as_well_as_its_version(tmp_path):
    import hashlib

    from ketaclinic.clinical.eligibility import SHIPPED_RULES_DIR, load_ruleset_file

    path = SHIPPED_RULES_DIR / "ketamine-iv-pain.yaml"
    shipped = RULESETS["ketamine-iv-pain"]
    assert shipped.file_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    edited = tmp_path / "pain.yaml"
    edited.write_text(path.read_text().replace("Severe hepatic disease.", "Severe liver disease."))
    copy = load_ruleset_file(edited)
    assert copy.version == shipped.version
    assert copy.file_hash != shipped.file_hash
    result = run("ketamine-iv-pain", BOB)
    assert result.to_dict()["ruleset_hash"] == shipped.file_hash
