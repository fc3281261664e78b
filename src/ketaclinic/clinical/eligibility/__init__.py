"""Eligibility screening: intake facts, versioned rule files per protocol family, the engine.

Typical use::

    facts = validate_facts({"age": 45, "diagnoses": ["mdd"], ...})   # FactError
    ruleset = load_rulesets()["ketamine-iv-mood"]                    # RuleLoadError
    result = evaluate(ruleset, facts)
    result.decision            # "eligible" | "needs_review" | "ineligible"
    result.to_dict()           # stored with the screening; names the rule set version

The engine suggests; a physician decides, and may override with a written reason.
"""

from __future__ import annotations

from ketaclinic.clinical.eligibility.engine import (
    DECISIONS,
    Decision,
    Evaluation,
    Finding,
    Truth,
    evaluate,
    evaluate_condition,
)
from ketaclinic.clinical.eligibility.facts import (
    DIAGNOSES,
    FACT_SPECS,
    FACT_TYPES,
    HISTORY_FLAGS,
    MEDICATION_CLASSES,
    SUICIDE_RISK_LEVELS,
    FactError,
    Facts,
    FactSpec,
    validate_facts,
)
from ketaclinic.clinical.eligibility.loader import (
    SHIPPED_RULES_DIR,
    RuleLoadError,
    load_ruleset_file,
    load_rulesets,
)
from ketaclinic.clinical.eligibility.schema import LEVELS, Condition, Level, Rule, RuleSet

__all__ = [
    "DECISIONS",
    "DIAGNOSES",
    "FACT_SPECS",
    "FACT_TYPES",
    "HISTORY_FLAGS",
    "LEVELS",
    "MEDICATION_CLASSES",
    "SHIPPED_RULES_DIR",
    "SUICIDE_RISK_LEVELS",
    "Condition",
    "Decision",
    "Evaluation",
    "FactError",
    "FactSpec",
    "Facts",
    "Finding",
    "Level",
    "Rule",
    "RuleLoadError",
    "RuleSet",
    "Truth",
    "evaluate",
    "evaluate_condition",
    "load_ruleset_file",
    "load_rulesets",
    "validate_facts",
]
