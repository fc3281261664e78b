"""The shipped rule files: every rule fires when it should and stays quiet when it should not.

Each case is a change to a benign, fully specified patient of the family. The
completeness test fails when a rule is added to a file without cases here.
"""

from __future__ import annotations

import re

import pytest

from ketaclinic.clinical.eligibility import (
    Evaluation,
    evaluate,
    load_rulesets,
    validate_facts,
)
from ketaclinic.clinical.eligibility.schema import source_keys

RULESETS = load_rulesets()

# Alice: 45, MDD with 3 failed trials, BP 128/82, nothing in her history or medications.
ALICE = {
    "age": 45,
    "diagnoses": ["mdd"],
    "failed_adequate_trials": 3,
    "history": [],
    "medications": [],
    "systolic_bp": 128,
    "diastolic_bp": 82,
    "heart_rate": 72,
    "weight_kg": 70.0,
    "height_cm": 168.0,
    "suicide_risk": "none",
}
# Bob: 52, complex regional pain syndrome, otherwise the same.
BOB = {**ALICE, "age": 52, "diagnoses": ["crps"], "failed_adequate_trials": 0}

BASELINE = {
    "esketamine-nasal": ALICE,
    "ketamine-iv-mood": ALICE,
    "ketamine-im-mood": ALICE,
    "ketamine-iv-pain": BOB,
}


def flags(*names: str) -> list[dict]:
    return [{"history": [name]} for name in names]


def meds(*names: str) -> list[dict]:
    return [{"medications": [name]} for name in names]


NOTHING: list[dict] = [{}]

# rule id -> (changes that make it fire, changes under which it stays quiet)
ESKETAMINE = {
    "esk-exclude-aneurysmal-vascular-disease": (flags("aneurysmal_vascular_disease"), NOTHING),
    "esk-exclude-avm": (flags("arteriovenous_malformation"), NOTHING),
    "esk-exclude-intracerebral-hemorrhage": (flags("intracerebral_hemorrhage_history"), NOTHING),
    "esk-exclude-esketamine-hypersensitivity": (flags("esketamine_hypersensitivity"), NOTHING),
    "esk-exclude-ketamine-hypersensitivity": (flags("ketamine_hypersensitivity"), NOTHING),
    "esk-exclude-under-18": ([{"age": 17}, {"age": 0}], [{"age": 18}]),
    "esk-require-trd-or-mdsi": (
        [
            {"failed_adequate_trials": 1},
            {"diagnoses": ["ptsd"]},
            # suicidal ideation without an oral antidepressant and without TRD
            {"diagnoses": ["mdd", "suicidal_ideation"], "failed_adequate_trials": 0},
            # an antidepressant and suicidal ideation, but no MDD
            {
                "diagnoses": ["suicidal_ideation"],
                "medications": ["oral_antidepressant"],
                "failed_adequate_trials": 0,
            },
        ],
        [
            {},
            {"failed_adequate_trials": 2},
            {
                "diagnoses": ["mdd", "suicidal_ideation"],
                "medications": ["oral_antidepressant"],
                "failed_adequate_trials": 0,
            },
        ],
    ),
    "esk-caution-bp-above-140-90": (
        [{"systolic_bp": 141}, {"diastolic_bp": 91}],
        [{"systolic_bp": 140, "diastolic_bp": 90}],
    ),
    "esk-caution-cardiovascular-or-intracranial": (
        flags(
            "uncontrolled_hypertension",
            "unstable_cardiovascular_disease",
            "increased_intracranial_pressure",
        ),
        NOTHING,
    ),
    "esk-caution-psychosis": (flags("psychosis_current", "psychosis_history"), NOTHING),
    "esk-caution-substance-use": (
        flags("substance_use_active", "substance_use_history", "ketamine_misuse_history"),
        NOTHING,
    ),
    "esk-caution-pregnant": (flags("pregnant"), NOTHING),
    "esk-caution-breastfeeding": (flags("breastfeeding"), NOTHING),
    "esk-caution-hepatic-moderate": (flags("hepatic_impairment_moderate"), NOTHING),
    "esk-caution-hepatic-severe": (flags("hepatic_impairment_severe"), NOTHING),
    "esk-caution-hypertensive-encephalopathy": (
        flags("hypertensive_encephalopathy_history"),
        NOTHING,
    ),
    "esk-caution-interstitial-cystitis": (flags("interstitial_cystitis"), NOTHING),
    "esk-caution-cognitive-impairment": (flags("cognitive_impairment"), NOTHING),
    "esk-caution-cns-depressants": (
        meds("benzodiazepine", "nonbenzo_hypnotic", "opioid"),
        meds("oral_antidepressant", "antihypertensive"),
    ),
    "esk-caution-stimulant-or-maoi": (meds("psychostimulant", "maoi"), meds("lamotrigine")),
    "esk-caution-suicide-risk-moderate-or-high": (
        [{"suicide_risk": "moderate"}, {"suicide_risk": "high"}],
        [{"suicide_risk": "none"}, {"suicide_risk": "low"}],
    ),
    "esk-caution-age-65-or-older": ([{"age": 65}, {"age": 88}], [{"age": 64}]),
}

IV_MOOD = {
    "ivm-exclude-ketamine-hypersensitivity": (flags("ketamine_hypersensitivity"), NOTHING),
    "ivm-exclude-psychosis-current": (flags("psychosis_current"), flags("psychosis_history")),
    "ivm-exclude-mania-current": (flags("mania_current"), NOTHING),
    "ivm-exclude-under-18": ([{"age": 17}], [{"age": 18}]),
    "ivm-exclude-bp-180-110": (
        [{"systolic_bp": 180}, {"systolic_bp": 150, "diastolic_bp": 110}],
        [{"systolic_bp": 179, "diastolic_bp": 109}],
    ),
    "ivm-require-diagnosis": (
        [{"diagnoses": []}, {"diagnoses": ["fibromyalgia"]}, {"diagnoses": ["suicidal_ideation"]}],
        [{"diagnoses": [code]} for code in ("mdd", "bipolar_depression", "ptsd", "gad", "ocd")],
    ),
    "ivm-caution-mdd-not-treatment-resistant": (
        [{"failed_adequate_trials": 1}, {"failed_adequate_trials": 0}],
        [{"failed_adequate_trials": 2}, {"diagnoses": ["ptsd"], "failed_adequate_trials": 0}],
    ),
    "ivm-caution-psychosis-history": (flags("psychosis_history"), NOTHING),
    "ivm-caution-substance-use-active": (flags("substance_use_active"), NOTHING),
    "ivm-caution-substance-use-history": (
        flags("substance_use_history", "ketamine_misuse_history"),
        flags("substance_use_active"),
    ),
    "ivm-caution-pregnant": (flags("pregnant"), NOTHING),
    "ivm-caution-breastfeeding": (flags("breastfeeding"), NOTHING),
    "ivm-caution-uncontrolled-hypertension": (flags("uncontrolled_hypertension"), NOTHING),
    "ivm-caution-bp-140-90": (
        [{"systolic_bp": 140}, {"diastolic_bp": 90}],
        [{"systolic_bp": 139, "diastolic_bp": 89}],
    ),
    "ivm-caution-unstable-cardiovascular": (flags("unstable_cardiovascular_disease"), NOTHING),
    "ivm-caution-intracranial-pressure": (flags("increased_intracranial_pressure"), NOTHING),
    "ivm-caution-intraocular-pressure": (flags("increased_intraocular_pressure"), NOTHING),
    "ivm-caution-hepatic-severe": (
        flags("hepatic_impairment_severe"),
        flags("hepatic_impairment_moderate"),
    ),
    "ivm-caution-benzodiazepine": (meds("benzodiazepine"), meds("nonbenzo_hypnotic")),
    "ivm-caution-lamotrigine": (meds("lamotrigine"), NOTHING),
    "ivm-caution-maoi-or-stimulant": (meds("maoi", "psychostimulant"), meds("opioid")),
    "ivm-caution-age-65-or-older": ([{"age": 65}, {"age": 90}], [{"age": 64}]),
    "ivm-caution-suicide-risk-high": (
        [{"suicide_risk": "high"}],
        [{"suicide_risk": level} for level in ("none", "low", "moderate")],
    ),
}
IM_MOOD = {rule_id.replace("ivm-", "imm-", 1): case for rule_id, case in IV_MOOD.items()}

IV_PAIN = {
    "ivp-exclude-under-18": ([{"age": 17}], [{"age": 18}]),
    "ivp-exclude-bp-180-110": (
        [{"systolic_bp": 180}, {"systolic_bp": 150, "diastolic_bp": 110}],
        [{"systolic_bp": 179, "diastolic_bp": 109}],
    ),
    "ivp-caution-bp-140-90": (
        [{"systolic_bp": 140}, {"diastolic_bp": 90}],
        [{"systolic_bp": 139, "diastolic_bp": 89}],
    ),
    "ivp-caution-substance-misuse-history": (
        flags("substance_use_history", "ketamine_misuse_history"),
        flags("substance_use_active"),
    ),
    "ivp-caution-psychosis-history": (flags("psychosis_history"), flags("psychosis_current")),
    "ivp-caution-suicide-risk-moderate-or-high": (
        [{"suicide_risk": "moderate"}, {"suicide_risk": "high"}],
        [{"suicide_risk": "none"}, {"suicide_risk": "low"}],
    ),
    "ivp-exclude-hepatic-severe": (
        flags("hepatic_impairment_severe"),
        flags("hepatic_impairment_moderate"),
    ),
    "ivp-exclude-ketamine-hypersensitivity": (flags("ketamine_hypersensitivity"), NOTHING),
    "ivp-require-pain-diagnosis": (
        [{"diagnoses": []}, {"diagnoses": ["mdd"]}],
        [{"diagnoses": [code]} for code in ("crps", "fibromyalgia", "neuropathic_pain")],
    ),
    "ivp-info-evidence-crps": (NOTHING, [{"diagnoses": ["fibromyalgia"]}]),
    "ivp-info-evidence-fibromyalgia": ([{"diagnoses": ["fibromyalgia"]}], NOTHING),
    "ivp-info-evidence-neuropathic-pain": ([{"diagnoses": ["neuropathic_pain"]}], NOTHING),
    "ivp-caution-cardiovascular": (
        flags("unstable_cardiovascular_disease", "uncontrolled_hypertension"),
        NOTHING,
    ),
    "ivp-caution-pregnant": (flags("pregnant"), flags("breastfeeding")),
    "ivp-caution-psychosis-current": (flags("psychosis_current"), flags("psychosis_history")),
    "ivp-caution-hepatic-moderate": (flags("hepatic_impairment_moderate"), NOTHING),
    "ivp-caution-intracranial-pressure": (flags("increased_intracranial_pressure"), NOTHING),
    "ivp-caution-intraocular-pressure": (flags("increased_intraocular_pressure"), NOTHING),
    "ivp-caution-substance-use-active": (
        flags("substance_use_active"),
        flags("substance_use_history"),
    ),
    "ivp-info-ecg": (
        flags(
            "unstable_cardiovascular_disease",
            "uncontrolled_hypertension",
            "aneurysmal_vascular_disease",
        ),
        NOTHING,
    ),
    "ivp-info-liver-tests": (
        flags(
            "hepatic_impairment_moderate",
            "hepatic_impairment_severe",
            "substance_use_active",
            "substance_use_history",
        ),
        NOTHING,
    ),
}

CASES = {
    "esketamine-nasal": ESKETAMINE,
    "ketamine-iv-mood": IV_MOOD,
    "ketamine-im-mood": IM_MOOD,
    "ketamine-iv-pain": IV_PAIN,
}

# Reminders checked at course activation: no condition, so they fire for everyone.
ALWAYS = {
    "esketamine-nasal": {"esk-info-rems-patient-enrollment", "esk-info-rems-certified-setting"},
    "ketamine-iv-mood": {"ivm-info-off-label-consent"},
    "ketamine-im-mood": {"imm-info-off-label-consent"},
    "ketamine-iv-pain": {"ivp-info-pre-infusion-tests", "ivp-info-off-label-consent"},
}


def run(family: str, changes: dict) -> Evaluation:
    return evaluate(RULESETS[family], validate_facts({**BASELINE[family], **changes}))


def fired(result: Evaluation) -> list[str]:
    return [f.rule for f in result.findings]


def cases(which: int):
    for family, table in CASES.items():
        for rule_id, both in table.items():
            for changes in both[which]:
                yield pytest.param(family, rule_id, changes, id=f"{rule_id}-{changes}")


def test_the_four_families_ship():
    assert sorted(RULESETS) == [
        "esketamine-nasal",
        "ketamine-im-mood",
        "ketamine-iv-mood",
        "ketamine-iv-pain",
    ]
    assert {family: rs.version for family, rs in RULESETS.items()} == {
        "esketamine-nasal": 3,
        "ketamine-im-mood": 1,
        "ketamine-iv-mood": 1,
        "ketamine-iv-pain": 2,
    }


@pytest.mark.parametrize("family", sorted(CASES))
def test_every_rule_has_firing_and_quiet_cases(family):
    ids = {rule.id for rule in RULESETS[family].rules}
    assert set(CASES[family]) | ALWAYS[family] == ids
    assert not set(CASES[family]) & ALWAYS[family]
    for rule_id, (fires, quiet) in CASES[family].items():
        assert fires and quiet, rule_id
    always = {rule.id for rule in RULESETS[family].rules if rule.when is None}
    assert always == ALWAYS[family]


@pytest.mark.parametrize("family", sorted(CASES))
def test_the_benign_baseline_is_eligible_with_nothing_missing(family):
    result = run(family, {})
    assert result.missing == ()
    if family == "ketamine-iv-pain":
        # Bob's CRPS carries its evidence note; only info findings, so still eligible.
        assert fired(result) == [
            "ivp-info-evidence-crps",
            "ivp-info-pre-infusion-tests",
            "ivp-info-off-label-consent",
        ]
    else:
        assert set(fired(result)) == ALWAYS[family]
    assert result.decision == "eligible"


@pytest.mark.parametrize(("family", "rule_id", "changes"), list(cases(0)))
def test_the_rule_fires(family, rule_id, changes):
    result = run(family, changes)
    rule = RULESETS[family].rule(rule_id)
    finding = next(f for f in result.findings if f.rule == rule_id)
    assert (finding.level, finding.message, finding.source) == (
        rule.level,
        rule.message,
        rule.source,
    )
    expected = {
        "exclude": "ineligible",
        "caution": "needs_review",
        "require": "needs_review",
    }.get(rule.level)
    if expected is not None:
        assert result.decision == expected
    assert result.missing == ()


@pytest.mark.parametrize(("family", "rule_id", "changes"), list(cases(1)))
def test_the_rule_stays_quiet(family, rule_id, changes):
    assert rule_id not in fired(run(family, changes))


@pytest.mark.parametrize("family", sorted(CASES))
def test_reminders_fire_even_when_nothing_is_known(family):
    result = evaluate(RULESETS[family], validate_facts({}))
    assert set(fired(result)) == ALWAYS[family]
    assert result.decision == "needs_review"


# --- Three-valued, rule by rule ---------------------------------------------------------


@pytest.mark.parametrize(("family", "rule_id", "changes"), list(cases(0)))
def test_a_rule_never_reads_an_unasked_fact_as_no(family, rule_id, changes):
    """Drop each fact the rule reads from a case where it fires: the rule still fires
    (the other facts settle it), or it falls silent and names the dropped fact as missing,
    so the patient can never come out eligible on a fact nobody asked about."""
    rule = RULESETS[family].rule(rule_id)
    if rule.level == "info":
        pytest.skip("info rules never block a decision")
    full = {**BASELINE[family], **changes}
    for fact in sorted(rule.facts):
        result = run_raw(family, {name: v for name, v in full.items() if name != fact})
        if rule_id not in fired(result):
            assert fact in result.missing, (rule_id, fact)
            assert result.decision != "eligible", (rule_id, fact)


@pytest.mark.parametrize("family", sorted(CASES))
def test_with_nothing_known_every_fact_a_deciding_rule_reads_is_missing(family):
    needed = set().union(*(r.facts for r in RULESETS[family].rules if r.level != "info"))
    result = evaluate(RULESETS[family], validate_facts({}))
    assert set(result.missing) == needed
    assert decisive(result) == []


# --- Hand-worked clinical cases ---------------------------------------------------------


def decisive(result: Evaluation) -> list[str]:
    return [f.rule for f in result.findings if f.level != "info"]


@pytest.mark.parametrize("family", ["esketamine-nasal", "ketamine-iv-mood", "ketamine-im-mood"])
def test_alice_with_trd_and_normal_bp_is_eligible(family):
    result = run(family, {})
    assert (result.decision, decisive(result), result.missing) == ("eligible", [], ())


def test_alice_is_eligible_for_iv_mood_exactly_as_stored():
    assert run("ketamine-iv-mood", {}).to_dict() == {
        "protocol": "ketamine-iv-mood",
        "ruleset_version": 1,
        "ruleset_hash": RULESETS["ketamine-iv-mood"].file_hash,
        "decision": "eligible",
        "findings": [
            {
                "rule": "ivm-info-off-label-consent",
                "level": "info",
                "message": "Ketamine for mood and anxiety disorders is off-label. The patient's "
                "informed consent must say so. Checked at course activation.",
                "source": "ASKP3",
            }
        ],
        "missing": [],
    }


def test_pregnancy_is_a_caution_not_an_exclusion():
    esk = run("esketamine-nasal", {"history": ["pregnant"]})
    ivm = run("ketamine-iv-mood", {"history": ["pregnant"]})
    assert (esk.decision, decisive(esk)) == ("needs_review", ["esk-caution-pregnant"])
    assert (ivm.decision, decisive(ivm)) == ("needs_review", ["ivm-caution-pregnant"])


def test_an_avm_makes_esketamine_ineligible_but_not_iv_ketamine():
    esk = run("esketamine-nasal", {"history": ["arteriovenous_malformation"]})
    assert (esk.decision, decisive(esk)) == ("ineligible", ["esk-exclude-avm"])
    assert run("ketamine-iv-mood", {"history": ["arteriovenous_malformation"]}).decision == (
        "eligible"
    )


@pytest.mark.parametrize(
    ("family", "rule_id"),
    [("esketamine-nasal", "esk-exclude-under-18"), ("ketamine-iv-mood", "ivm-exclude-under-18")],
)
def test_a_17_year_old_is_ineligible(family, rule_id):
    result = run(family, {"age": 17})
    assert (result.decision, decisive(result)) == ("ineligible", [rule_id])


def test_bp_182_over_100_excludes_iv_ketamine_and_cautions_esketamine():
    ivm = run("ketamine-iv-mood", {"systolic_bp": 182, "diastolic_bp": 100})
    assert (ivm.decision, decisive(ivm)) == (
        "ineligible",
        ["ivm-exclude-bp-180-110", "ivm-caution-bp-140-90"],
    )
    esk = run("esketamine-nasal", {"systolic_bp": 182, "diastolic_bp": 100})
    assert (esk.decision, decisive(esk)) == ("needs_review", ["esk-caution-bp-above-140-90"])


@pytest.mark.parametrize("family", ["esketamine-nasal", "ketamine-iv-mood"])
def test_a_missing_bp_needs_review_and_names_both_readings(family):
    facts = {k: v for k, v in ALICE.items() if k not in ("systolic_bp", "diastolic_bp")}
    result = evaluate(RULESETS[family], validate_facts(facts))
    assert (result.decision, decisive(result), result.missing) == (
        "needs_review",
        [],
        ("diastolic_bp", "systolic_bp"),
    )


def test_a_known_severe_systolic_decides_without_the_diastolic():
    facts = {k: v for k, v in ALICE.items() if k != "diastolic_bp"} | {"systolic_bp": 185}
    result = evaluate(RULESETS["ketamine-iv-mood"], validate_facts(facts))
    assert result.decision == "ineligible"
    assert result.missing == ()


def test_mdd_with_acute_suicidal_ideation_on_an_antidepressant_fits_the_esketamine_label():
    carol = {
        "diagnoses": ["mdd", "suicidal_ideation"],
        "failed_adequate_trials": 0,
        "medications": ["oral_antidepressant"],
        "suicide_risk": "high",
    }
    esk = run("esketamine-nasal", carol)
    # The indication fits; the high C-SSRS risk still asks for the physician's own review.
    assert (esk.decision, decisive(esk)) == (
        "needs_review",
        ["esk-caution-suicide-risk-moderate-or-high"],
    )
    ivm = run("ketamine-iv-mood", carol)
    assert (ivm.decision, decisive(ivm)) == (
        "needs_review",
        ["ivm-caution-mdd-not-treatment-resistant", "ivm-caution-suicide-risk-high"],
    )


def test_mdd_with_one_failed_trial_is_not_trd():
    esk = run("esketamine-nasal", {"failed_adequate_trials": 1})
    assert (esk.decision, decisive(esk)) == ("needs_review", ["esk-require-trd-or-mdsi"])
    ivm = run("ketamine-iv-mood", {"failed_adequate_trials": 1})
    assert decisive(ivm) == ["ivm-caution-mdd-not-treatment-resistant"]


def test_unknown_trial_count_is_missing_for_mdd_but_not_for_ptsd():
    mdd = {k: v for k, v in ALICE.items() if k != "failed_adequate_trials"}
    assert run_raw("ketamine-iv-mood", mdd).missing == ("failed_adequate_trials",)
    assert run_raw("esketamine-nasal", mdd).missing == ("failed_adequate_trials",)
    ptsd = mdd | {"diagnoses": ["ptsd"]}
    result = run_raw("ketamine-iv-mood", ptsd)
    assert (result.decision, result.missing) == ("eligible", ())


def run_raw(family: str, raw: dict) -> Evaluation:
    return evaluate(RULESETS[family], validate_facts(raw))


def test_a_70_year_old_needs_review_for_iv_ketamine_and_esketamine():
    assert decisive(run("ketamine-iv-mood", {"age": 70})) == ["ivm-caution-age-65-or-older"]
    assert decisive(run("esketamine-nasal", {"age": 70})) == ["esk-caution-age-65-or-older"]
    assert run("ketamine-iv-pain", {"age": 70}).decision == "eligible"


def test_a_benzodiazepine_and_an_opioid_caution_esketamine_once():
    result = run("esketamine-nasal", {"medications": ["benzodiazepine", "opioid"]})
    assert decisive(result) == ["esk-caution-cns-depressants"]


def test_fibromyalgia_is_eligible_for_pain_with_a_weak_evidence_note():
    result = run("ketamine-iv-pain", {"diagnoses": ["fibromyalgia"]})
    assert result.decision == "eligible"
    note = next(f for f in result.findings if f.rule == "ivp-info-evidence-fibromyalgia")
    assert "weak or absent" in note.message
    crps = run("ketamine-iv-pain", {})
    assert "moderate evidence" in crps.findings[0].message


def test_severe_hepatic_disease_excludes_pain_infusions_and_asks_for_liver_tests():
    result = run("ketamine-iv-pain", {"history": ["hepatic_impairment_severe"]})
    assert result.decision == "ineligible"
    assert fired(result) == [
        "ivp-exclude-hepatic-severe",
        "ivp-info-evidence-crps",
        "ivp-info-pre-infusion-tests",
        "ivp-info-liver-tests",
        "ivp-info-off-label-consent",
    ]


def test_depression_is_not_a_pain_indication():
    result = run("ketamine-iv-pain", {"diagnoses": ["mdd"]})
    assert (result.decision, decisive(result)) == ("needs_review", ["ivp-require-pain-diagnosis"])


# --- Data hygiene ------------------------------------------------------------------------

DOMAIN_KEYS = {
    "SPRAVATO-LABEL",
    "SPRAVATO-REMS",
    "MIMS-HK",
    "APA-2017",
    "ANDRADE-2017",
    "FAVA-2020",
    "CANMAT-2021",
    "ASKP3",
    "COHEN-2018",
    "YALE-2024",
    "EMORY-684",
    "SZARMACH-2020",
    "IMMPACT",
    "DEA",
    "policy",
}


@pytest.mark.parametrize("family", sorted(CASES))
def test_every_source_is_a_domain_key(family):
    for rule in RULESETS[family].rules:
        assert set(source_keys(rule.source)) <= DOMAIN_KEYS, rule.id
    assert {ref.key for ref in RULESETS[family].sources} <= DOMAIN_KEYS


def test_the_bp_thresholds_carry_their_domain_marks():
    sources = {
        rule.id: rule.source for rs in RULESETS.values() for rule in rs.rules if "bp" in rule.id
    }
    assert sources == {
        "esk-caution-bp-above-140-90": "SPRAVATO-LABEL [verify]",
        "ivm-exclude-bp-180-110": "policy",
        "ivm-caution-bp-140-90": "APA-2017 [verify]",
        "imm-exclude-bp-180-110": "policy",
        "imm-caution-bp-140-90": "APA-2017 [verify]",
        "ivp-exclude-bp-180-110": "COHEN-2018, policy",
        "ivp-caution-bp-140-90": "COHEN-2018, policy",
    }


def test_the_age_rules_not_in_a_label_are_policy():
    assert RULESETS["ketamine-iv-mood"].rule("ivm-exclude-under-18").source == "policy"
    assert RULESETS["ketamine-iv-mood"].rule("ivm-caution-age-65-or-older").source == "policy"
    assert RULESETS["esketamine-nasal"].rule("esk-exclude-under-18").source == "SPRAVATO-LABEL"
    assert RULESETS["ketamine-iv-pain"].rule("ivp-exclude-under-18").source == "policy"


def test_every_mood_rule_based_on_the_apa_statement_is_marked_verify():
    for rule in RULESETS["ketamine-iv-mood"].rules:
        if "APA-2017" in source_keys(rule.source):
            assert rule.source.endswith("[verify]"), rule.id


def test_the_esketamine_contraindications_are_the_label_ones_only():
    excludes = [r.id for r in RULESETS["esketamine-nasal"].rules if r.level == "exclude"]
    assert excludes == [
        "esk-exclude-aneurysmal-vascular-disease",
        "esk-exclude-avm",
        "esk-exclude-intracerebral-hemorrhage",
        "esk-exclude-esketamine-hypersensitivity",
        "esk-exclude-ketamine-hypersensitivity",
        "esk-exclude-under-18",
    ]


def test_im_mood_mirrors_iv_mood_rule_for_rule():
    iv, im = RULESETS["ketamine-iv-mood"], RULESETS["ketamine-im-mood"]
    assert im.version == iv.version
    assert im.sources == iv.sources
    assert len(im.rules) == len(iv.rules)
    for iv_rule, im_rule in zip(iv.rules, im.rules, strict=True):
        assert im_rule.id == iv_rule.id.replace("ivm-", "imm-", 1)
        assert im_rule.model_dump(exclude={"id"}) == iv_rule.model_dump(exclude={"id"})


@pytest.mark.parametrize("family", sorted(CASES))
def test_rule_ids_are_prefixed_by_family_and_name_their_level(family):
    prefix = {
        "esketamine-nasal": "esk",
        "ketamine-iv-mood": "ivm",
        "ketamine-im-mood": "imm",
        "ketamine-iv-pain": "ivp",
    }[family]
    for rule in RULESETS[family].rules:
        assert re.match(rf"^{prefix}-{rule.level}-", rule.id), rule.id


@pytest.mark.parametrize("family", sorted(CASES))
def test_messages_are_plain_sentences(family):
    for rule in RULESETS[family].rules:
        assert rule.message[0].isupper() and rule.message.endswith("."), rule.id
        assert "  " not in rule.message and "\n" not in rule.message
