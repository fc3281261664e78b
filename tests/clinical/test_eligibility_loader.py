"""Loading rule files: schema errors name the file and the rule; clinic files override."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ketaclinic.clinical.eligibility import (
    SHIPPED_RULES_DIR,
    RuleLoadError,
    evaluate,
    load_ruleset_file,
    load_rulesets,
    validate_facts,
)

HEADER = """\
family: clinic-test
version: 2
title: A clinic's own rules
sources:
  - {key: CLINIC-2025, title: Our protocol book}
rules:
"""

GOOD_RULE = """\
  - id: ct-exclude-avm
    level: exclude
    when: {fact: history, contains: arteriovenous_malformation}
    message: AVM. Do not treat.
    source: CLINIC-2025
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_valid_clinic_file_loads(tmp_path):
    ruleset = load_ruleset_file(write(tmp_path, "ct.yaml", HEADER + GOOD_RULE))
    assert (ruleset.family, ruleset.version, [r.id for r in ruleset.rules]) == (
        "clinic-test",
        2,
        ["ct-exclude-avm"],
    )


@pytest.mark.parametrize(
    ("rule_text", "rule_id", "says"),
    [
        (
            "  - {id: ct-x, level: exclude, when: {fact: blood_type, eq: a}, message: M., source: policy}\n",
            "ct-x",
            "unknown fact 'blood_type'",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: history, contains: pregnancy}, message: M., source: policy}\n",
            "ct-x",
            "unknown history value 'pregnancy'",
        ),
        (
            "  - {id: ct-x, level: caution, when: {fact: medications, contains_any: [ssri, opioid]}, message: M., source: policy}\n",
            "ct-x",
            "unknown medications value(s) ['ssri']",
        ),
        (
            "  - {id: ct-x, level: require, when: {fact: diagnoses, contains: trd}, message: M., source: policy}\n",
            "ct-x",
            "unknown diagnoses value 'trd'",
        ),
        (
            "  - {id: ct-x, level: caution, when: {fact: suicide_risk, eq: severe}, message: M., source: policy}\n",
            "ct-x",
            "unknown suicide_risk value 'severe'",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lte: 17}, message: M., source: policy}\n",
            "ct-x",
            "unknown operator 'lte'",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: 18, gt: 90}, message: M., source: policy}\n",
            "ct-x",
            "exactly one operator",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age}, message: M., source: policy}\n",
            "ct-x",
            "exactly one operator",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, contains: pregnant}, message: M., source: policy}\n",
            "ct-x",
            "operator 'contains' does not apply to int fact 'age'",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: history, gt: 3}, message: M., source: policy}\n",
            "ct-x",
            "operator 'gt' does not apply to list fact 'history'",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: systolic_bp, gt: 1400}, message: M., source: policy}\n",
            "ct-x",
            "outside its plausible range",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: '18'}, message: M., source: policy}\n",
            "ct-x",
            "age lt needs a number, got '18'",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: true}, message: M., source: policy}\n",
            "ct-x",
            "when.fact.value",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: history, contains_any: []}, message: M., source: policy}\n",
            "ct-x",
            "non-empty list",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: history, contains_any: [pregnant, pregnant]}, message: M., source: policy}\n",
            "ct-x",
            "lists a value twice",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {all: []}, message: M., source: policy}\n",
            "ct-x",
            "at least 1 item",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {either: []}, message: M., source: policy}\n",
            "ct-x",
            "a condition is",
        ),
        (
            "  - {id: ct-x, level: exclude, when: 'age < 18', message: M., source: policy}\n",
            "ct-x",
            "a condition is",
        ),
        (
            "  - {id: ct-x, level: forbid, when: {fact: age, lt: 18}, message: M., source: policy}\n",
            "ct-x",
            "level",
        ),
        (
            "  - {id: ct-x, level: exclude, message: M., source: policy}\n",
            "ct-x",
            "a exclude rule needs a `when` condition",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: 18}, message: '  ', source: policy}\n",
            "ct-x",
            "message must say what to do",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: 18}, message: M.}\n",
            "ct-x",
            "source",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: 18}, message: M., source: 'label p.3'}\n",
            "ct-x",
            "source 'label p.3' must be",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: 18}, message: M., source: OTHER-KEY}\n",
            "ct-x",
            "not in the file's `sources` list",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {fact: age, lt: 18}, message: M., source: policy, note: x}\n",
            "ct-x",
            "Extra inputs are not permitted",
        ),
        (
            "  - {id: CT X, level: exclude, when: {fact: age, lt: 18}, message: M., source: policy}\n",
            "CT X",
            "String should match pattern",
        ),
        (
            "  - {level: exclude, when: {fact: age, lt: 18}, message: M., source: policy}\n",
            "#1",
            "id",
        ),
        (
            "  - {id: ct-x, level: exclude, when: {not: {any: [{fact: age, lt: 18}, {fact: heartrate, gt: 1}]}}, message: M., source: policy}\n",
            "ct-x",
            "unknown fact 'heartrate'",
        ),
    ],
)
def test_a_bad_rule_is_a_load_error_naming_file_and_rule(tmp_path, rule_text, rule_id, says):
    path = write(tmp_path, "bad.yaml", HEADER + rule_text)
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset_file(path)
    error = caught.value
    assert (error.path, error.rule) == (str(path), rule_id)
    assert says in error.problem
    assert str(error).startswith(f"{path}, rule {rule_id}: ")


def test_duplicate_rule_ids_are_a_load_error(tmp_path):
    path = write(tmp_path, "dup.yaml", HEADER + GOOD_RULE + GOOD_RULE)
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset_file(path)
    assert caught.value.rule == "ct-exclude-avm"
    assert "duplicate rule id" in caught.value.problem


def test_a_duplicate_yaml_key_is_a_load_error(tmp_path):
    rule = GOOD_RULE + "    level: info\n"
    path = write(tmp_path, "dupkey.yaml", HEADER + rule)
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset_file(path)
    assert "duplicate key 'level'" in caught.value.problem


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("family: [unclosed\n", "cannot read YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("", "must be a mapping"),
        ("family: x\nversion: 1\ntitle: t\nsources: []\nrules: []\n", "non-empty list"),
        (HEADER.replace("version: 2", "version: '2'") + GOOD_RULE, "version"),
        (HEADER.replace("version: 2", "version: 0") + GOOD_RULE, "version"),
        (HEADER.replace("family: clinic-test", "family: Clinic Test") + GOOD_RULE, "family"),
        (HEADER.replace("title: A clinic's own rules\n", "") + GOOD_RULE, "title"),
        (HEADER + GOOD_RULE + "extra: 1\n", "Extra inputs"),
        ("family: x\nversion: 1\ntitle: t\nsources: [{key: X}]\nrules: [{}]\n", "#1"),
        (
            HEADER.replace("{key: CLINIC-2025, title: Our protocol book}", "{key: c, title: t}")
            + GOOD_RULE,
            "sources",
        ),
    ],
)
def test_a_bad_file_is_a_load_error_naming_it(tmp_path, text, says):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset_file(path)
    assert caught.value.path == str(path)
    assert says in str(caught.value)


def test_a_missing_file_is_a_load_error(tmp_path):
    with pytest.raises(RuleLoadError, match="cannot read YAML"):
        load_ruleset_file(tmp_path / "nope.yaml")


def test_a_missing_clinic_directory_is_a_load_error(tmp_path):
    with pytest.raises(RuleLoadError, match="not a directory"):
        load_rulesets(extra_dirs=[tmp_path / "nope"])


def test_two_files_of_one_family_in_a_directory_are_a_load_error(tmp_path):
    write(tmp_path, "a.yaml", HEADER + GOOD_RULE)
    write(tmp_path, "b.yml", HEADER + GOOD_RULE)
    with pytest.raises(RuleLoadError, match="also defined in"):
        load_rulesets(extra_dirs=[tmp_path])


def test_a_new_clinic_family_is_added_to_the_shipped_ones(tmp_path):
    write(tmp_path, "ct.yaml", HEADER + GOOD_RULE)
    rulesets = load_rulesets(extra_dirs=[tmp_path])
    assert sorted(rulesets) == [
        "clinic-test",
        "esketamine-nasal",
        "ketamine-im-mood",
        "ketamine-iv-mood",
        "ketamine-iv-pain",
    ]


def stricter_esketamine(version: int) -> str:
    return f"""\
family: esketamine-nasal
version: {version}
title: Esketamine, our stricter rules
sources:
  - {{key: SPRAVATO-LABEL, title: label}}
rules:
  - id: esk-exclude-age-over-80
    level: exclude
    when: {{fact: age, gt: 80}}
    message: Over 80. Not in our clinic.
    source: policy
"""


SHIPPED_ESK = load_rulesets()["esketamine-nasal"].version


def test_a_clinic_file_with_a_higher_version_replaces_the_shipped_one(tmp_path):
    newer = SHIPPED_ESK + 1
    write(tmp_path, "esk.yaml", stricter_esketamine(newer))
    ruleset = load_rulesets(extra_dirs=[tmp_path])["esketamine-nasal"]
    assert (ruleset.version, [r.id for r in ruleset.rules]) == (newer, ["esk-exclude-age-over-80"])
    result = evaluate(ruleset, validate_facts({"age": 81}))
    assert result.to_dict()["ruleset_version"] == newer
    assert result.decision == "ineligible"
    # The shipped cache is untouched.
    assert load_rulesets()["esketamine-nasal"].version == SHIPPED_ESK


@pytest.mark.parametrize("version", sorted({1, SHIPPED_ESK}))
def test_a_clinic_file_with_the_same_or_lower_version_does_not_replace(tmp_path, version):
    write(tmp_path, "esk.yaml", stricter_esketamine(version))
    ruleset = load_rulesets(extra_dirs=[str(tmp_path)])["esketamine-nasal"]
    assert ruleset is load_rulesets()["esketamine-nasal"]


def test_a_later_directory_with_a_higher_version_wins(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write(first, "esk.yaml", stricter_esketamine(SHIPPED_ESK + 2))
    write(second, "esk.yaml", stricter_esketamine(SHIPPED_ESK + 1))
    assert load_rulesets(extra_dirs=[first, second])["esketamine-nasal"].version == SHIPPED_ESK + 2
    assert load_rulesets(extra_dirs=[second, first])["esketamine-nasal"].version == SHIPPED_ESK + 2


def test_shipped_rule_sets_are_cached():
    assert load_rulesets()["ketamine-iv-mood"] is load_rulesets()["ketamine-iv-mood"]


def test_the_shipped_directory_holds_one_file_per_family():
    assert sorted(p.name for p in SHIPPED_RULES_DIR.glob("*.yaml")) == [
        "esketamine-nasal.yaml",
        "ketamine-im-mood.yaml",
        "ketamine-iv-mood.yaml",
        "ketamine-iv-pain.yaml",
    ]
    for path in SHIPPED_RULES_DIR.glob("*.yaml"):
        assert load_ruleset_file(path).family == path.stem
