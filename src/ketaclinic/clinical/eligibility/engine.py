"""The eligibility engine: evaluates a rule set against one patient's facts.

Logic is three-valued (Kleene). A test of an unknown fact is *unknown*; ``all`` is
false as soon as one part is false, ``any`` is true as soon as one part is true, and
``not`` keeps unknown unknown. This is what lets a screening be decided on the facts
that are known (a 17-year-old is ineligible for esketamine whatever else is missing)
while never reading "not asked" as "not present".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ketaclinic.clinical.eligibility.facts import Facts
from ketaclinic.clinical.eligibility.schema import (
    AllOf,
    Condition,
    FactTest,
    Level,
    NotOf,
    RuleSet,
)

__all__ = [
    "DECISIONS",
    "Decision",
    "Evaluation",
    "Finding",
    "Truth",
    "evaluate",
    "evaluate_condition",
]

Decision = Literal["eligible", "needs_review", "ineligible"]
DECISIONS: tuple[Decision, ...] = ("eligible", "needs_review", "ineligible")
"""Decisions from best to worst for the patient's path to treatment."""

Truth = bool | None
"""True, False, or None for unknown."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that fired (or, for a require rule, was not met) for this patient."""

    rule: str
    level: Level
    message: str
    source: str

    def to_dict(self) -> dict[str, str]:
        """Return the finding as plain data."""
        return {
            "rule": self.rule,
            "level": self.level,
            "message": self.message,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one screening, naming the rule set (version and file hash) behind it."""

    family: str
    version: int
    decision: Decision
    findings: tuple[Finding, ...]
    missing: tuple[str, ...]
    ruleset_hash: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return the evaluation as JSON-ready data for storage and the API."""
        return {
            "protocol": self.family,
            "ruleset_version": self.version,
            "ruleset_hash": self.ruleset_hash,
            "decision": self.decision,
            "findings": [f.to_dict() for f in self.findings],
            "missing": list(self.missing),
        }


def _test(test: FactTest, facts: Facts) -> bool | None:
    actual = facts.get(test.fact)
    if actual is None:
        return None
    expected = test.value
    if isinstance(actual, frozenset):
        # Lists are complete when present (see facts.py), so absence is a definite no.
        members = expected if isinstance(expected, tuple) else (expected,)
        if test.op == "contains_all":
            return all(m in actual for m in members)
        return any(m in actual for m in members)
    if isinstance(actual, str):
        if test.op == "in":
            return isinstance(expected, tuple) and actual in expected
        return actual == expected
    if isinstance(expected, str | tuple):  # excluded by the schema; kept for type safety
        return None
    if test.op == "lt":
        return actual < expected
    if test.op == "le":
        return actual <= expected
    if test.op == "gt":
        return actual > expected
    if test.op == "ge":
        return actual >= expected
    return actual == expected


def _evaluate(condition: Condition, facts: Facts) -> tuple[Truth, frozenset[str]]:
    """Return the condition's truth value and, when unknown, the unknown facts to blame."""
    if isinstance(condition, FactTest):
        value = _test(condition, facts)
        return value, frozenset() if value is not None else frozenset({condition.fact})
    if isinstance(condition, NotOf):
        value, blame = _evaluate(condition.not_, facts)
        return (None if value is None else not value), blame
    parts = [
        _evaluate(part, facts)
        for part in (condition.all_ if isinstance(condition, AllOf) else condition.any_)
    ]
    # all: one false decides; any: one true decides. Otherwise an unknown part keeps
    # the whole unknown, and only the unknown parts are to blame.
    decisive = not isinstance(condition, AllOf)
    if any(value is decisive for value, _ in parts):
        return decisive, frozenset()
    unknown = [blame for value, blame in parts if value is None]
    if unknown:
        return None, frozenset().union(*unknown)
    return (not decisive), frozenset()


def evaluate_condition(condition: Condition | None, facts: Facts) -> Truth:
    """Return True, False or None (unknown) for a condition; no condition is True."""
    if condition is None:
        return True
    return _evaluate(condition, facts)[0]


def evaluate(ruleset: RuleSet, facts: Facts) -> Evaluation:
    """Return the decision, findings and missing facts for one patient under a rule set.

    - exclude/caution/info fire when their condition is true;
    - require fires (as a finding) when its condition is false;
    - an exclude, caution or require rule whose condition is unknown does not fire,
      but the unknown facts it needed are reported as missing, so the decision can
      never be "eligible" on facts nobody asked about. Info rules never affect the
      decision and never make a fact missing.

    Decision: "ineligible" if any exclude fired; else "needs_review" if any caution
    fired, any require was not met, or any fact is missing; else "eligible".
    """
    findings: list[Finding] = []
    missing: set[str] = set()
    for rule in ruleset.rules:
        if rule.when is None:
            value: Truth
            blame: frozenset[str]
            value, blame = True, frozenset()
        else:
            value, blame = _evaluate(rule.when, facts)
        fires = value is False if rule.level == "require" else value is True
        if fires:
            findings.append(Finding(rule.id, rule.level, rule.message, rule.source))
        elif value is None and rule.level != "info":
            missing |= blame
    levels = {f.level for f in findings}
    decision: Decision
    if "exclude" in levels:
        decision = "ineligible"
    elif levels & {"caution", "require"} or missing:
        decision = "needs_review"
    else:
        decision = "eligible"
    return Evaluation(
        family=ruleset.family,
        version=ruleset.version,
        decision=decision,
        findings=tuple(findings),
        missing=tuple(sorted(missing)),
        ruleset_hash=ruleset.file_hash,
    )
