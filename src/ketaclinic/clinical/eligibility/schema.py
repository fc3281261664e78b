"""The pydantic schema of an eligibility rule file, checked in full when a file loads.

A rule file is one protocol family's rule set::

    family: esketamine-nasal
    version: 1
    title: ...
    sources: [{key: SPRAVATO-LABEL, title: ...}]
    rules:
      - id: esk-exclude-avm
        level: exclude            # exclude | caution | require | info
        when: {fact: history, contains: arteriovenous_malformation}
        message: ...
        source: SPRAVATO-LABEL    # "KEY[, KEY...]" or "policy", then " [verify]" if marked

Conditions are data, never code: ``{fact: NAME, OP: VALUE}`` with one operator
(numbers: lt le gt ge eq; choices: eq in; lists: contains contains_any
contains_all), or ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}``. Fact names,
operators, vocabulary values and thresholds are checked against the fact vocabulary
here, so a typo is a load error, not a rule that silently never fires. Only an
``info`` rule may omit ``when``: it then always fires (a reminder for every patient).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

from ketaclinic.clinical.eligibility.facts import FACT_SPECS

__all__ = [
    "LEVELS",
    "NUMBER_OPS",
    "CHOICE_OPS",
    "LIST_OPS",
    "AllOf",
    "AnyOf",
    "Condition",
    "FactTest",
    "Level",
    "NotOf",
    "Rule",
    "RuleSet",
    "SourceRef",
    "condition_facts",
    "ruleset_problems",
    "source_keys",
]

Level = Literal["exclude", "caution", "require", "info"]
LEVELS: tuple[Level, ...] = ("exclude", "caution", "require", "info")

NUMBER_OPS = ("lt", "le", "gt", "ge", "eq")
CHOICE_OPS = ("eq", "in")
LIST_OPS = ("contains", "contains_any", "contains_all")
_ALL_OPS = tuple(dict.fromkeys(NUMBER_OPS + CHOICE_OPS + LIST_OPS))

_SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_SOURCE_KEY = r"(?:policy|[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)"
_SOURCE_RE = re.compile(rf"^{_SOURCE_KEY}(?:, {_SOURCE_KEY})*(?: \[verify\])?$")

_FROZEN = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def source_keys(source: str) -> tuple[str, ...]:
    """Return the keys named in a rule's `source` ("A, B [verify]" -> ("A", "B"))."""
    return tuple(part.strip() for part in source.removesuffix(" [verify]").split(","))


class FactTest(BaseModel):
    """A test of one fact: ``{fact: age, lt: 18}`` is stored as fact/op/value."""

    model_config = _FROZEN

    fact: str
    op: str
    # Strict: YAML `yes` or a quoted "18" must not become a threshold by coercion.
    value: StrictInt | StrictFloat | StrictStr | tuple[StrictStr, ...]

    @model_validator(mode="before")
    @classmethod
    def _from_yaml_form(cls, data: Any) -> Any:
        # The file form {fact: X, lt: 18} reads naturally; the stored form is explicit.
        if not isinstance(data, dict) or "op" in data:
            return data
        ops = [key for key in data if key != "fact"]
        if len(ops) != 1:
            raise ValueError(
                f"a fact test needs exactly one operator besides `fact`, got {ops or 'none'}"
            )
        op = ops[0]
        if op not in _ALL_OPS:
            raise ValueError(f"unknown operator {op!r}; use one of {', '.join(_ALL_OPS)}")
        value = data[op]
        if isinstance(value, list):
            value = tuple(value)
        return {"fact": data.get("fact"), "op": op, "value": value}

    @model_validator(mode="after")
    def _check_against_vocabulary(self) -> FactTest:
        spec = FACT_SPECS.get(self.fact)
        if spec is None:
            raise ValueError(f"unknown fact {self.fact!r}; known facts: {', '.join(FACT_SPECS)}")
        allowed = {"int": NUMBER_OPS, "number": NUMBER_OPS, "choice": CHOICE_OPS}.get(
            spec.kind, LIST_OPS
        )
        if self.op not in allowed:
            raise ValueError(
                f"operator {self.op!r} does not apply to {spec.kind} fact {self.fact!r}; "
                f"use one of {', '.join(allowed)}"
            )
        value = self.value
        if spec.kind in ("int", "number"):
            # A threshold outside the plausible range is a typo (1400 for 140).
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{self.fact} {self.op} needs a number, got {value!r}")
            low, high = spec.minimum, spec.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(
                    f"threshold {value!r} for {self.fact} is outside its plausible range"
                )
        elif self.op in ("eq", "contains"):
            if not isinstance(value, str) or value not in spec.vocabulary:
                raise ValueError(
                    f"unknown {self.fact} value {value!r}; allowed: {', '.join(spec.vocabulary)}"
                )
        else:
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"{self.fact} {self.op} needs a non-empty list")
            bad = [v for v in value if not isinstance(v, str) or v not in spec.vocabulary]
            if bad:
                raise ValueError(
                    f"unknown {self.fact} value(s) {bad!r}; allowed: {', '.join(spec.vocabulary)}"
                )
            if len(set(value)) != len(value):
                raise ValueError(f"{self.fact} {self.op} lists a value twice")
        return self


class AllOf(BaseModel):
    """True when every part is true (Kleene: false if any part is false)."""

    model_config = _FROZEN

    all_: tuple[Condition, ...] = Field(alias="all", min_length=1)


class AnyOf(BaseModel):
    """True when some part is true (Kleene: unknown if none true and some unknown)."""

    model_config = _FROZEN

    any_: tuple[Condition, ...] = Field(alias="any", min_length=1)


class NotOf(BaseModel):
    """The negation of its part (unknown stays unknown)."""

    model_config = _FROZEN

    not_: Condition = Field(alias="not")


def _condition_kind(data: Any) -> str | None:
    if isinstance(data, dict):
        for key in ("fact", "all", "any", "not"):
            if key in data:
                return key
        return None
    kinds: dict[type, str] = {FactTest: "fact", AllOf: "all", AnyOf: "any", NotOf: "not"}
    return kinds.get(type(data))


Condition = Annotated[
    Annotated[FactTest, Tag("fact")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message="a condition is {fact: ..., OP: ...}, {all: [...]}, {any: [...]} "
        "or {not: ...}",
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


def condition_facts(condition: Condition | None) -> frozenset[str]:
    """Return the names of every fact a condition reads."""
    if condition is None:
        return frozenset()
    if isinstance(condition, FactTest):
        return frozenset({condition.fact})
    if isinstance(condition, NotOf):
        return condition_facts(condition.not_)
    parts: Iterable[Condition] = condition.all_ if isinstance(condition, AllOf) else condition.any_
    return frozenset().union(*(condition_facts(part) for part in parts))


class Rule(BaseModel):
    """One eligibility rule: when its condition holds, the finding fires at its level.

    A ``require`` rule is the other way round: its condition must hold for the
    patient to pass, and the finding fires when it does not.
    """

    model_config = _FROZEN

    id: str = Field(pattern=_SLUG, max_length=80)
    level: Level
    when: Condition | None = None
    message: str = Field(min_length=1)
    source: str

    @field_validator("message")
    @classmethod
    def _message_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must say what to do")
        return " ".join(value.split())

    @field_validator("source")
    @classmethod
    def _source_format(cls, value: str) -> str:
        if not _SOURCE_RE.match(value):
            raise ValueError(
                f"source {value!r} must be 'KEY', 'KEY, KEY' or 'policy', optionally "
                "followed by ' [verify]'"
            )
        return value

    @model_validator(mode="after")
    def _condition_required(self) -> Rule:
        if self.when is None and self.level != "info":
            raise ValueError(f"a {self.level} rule needs a `when` condition")
        return self

    @property
    def facts(self) -> frozenset[str]:
        """Return the fact names this rule reads."""
        return condition_facts(self.when)


class SourceRef(BaseModel):
    """A source a rule file cites: a docs/clinical-sources.md key and its title."""

    model_config = _FROZEN

    key: str = Field(pattern=rf"^{_SOURCE_KEY}$")
    title: str = Field(min_length=1)


def ruleset_problems(rules: Iterable[Rule], sources: Iterable[SourceRef]) -> list[tuple[str, str]]:
    """Return (rule id, problem) pairs: duplicate ids and sources the file does not list."""
    listed = {ref.key for ref in sources} | {"policy"}
    seen: set[str] = set()
    problems: list[tuple[str, str]] = []
    for rule in rules:
        if rule.id in seen:
            problems.append((rule.id, f"duplicate rule id {rule.id!r}"))
        seen.add(rule.id)
        unlisted = [key for key in source_keys(rule.source) if key not in listed]
        if unlisted:
            problems.append(
                (rule.id, f"source key(s) {unlisted} are not in the file's `sources` list")
            )
    return problems


class RuleSet(BaseModel):
    """One protocol family's versioned rule set, rules in file order."""

    model_config = _FROZEN

    family: str = Field(pattern=_SLUG, max_length=80)
    version: int = Field(ge=1, strict=True)
    title: str = Field(min_length=1)
    sources: tuple[SourceRef, ...] = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(min_length=1)
    # SHA-256 of the file the rule set was read from ("" when built in code).
    _file_hash: str = PrivateAttr(default="")

    @property
    def file_hash(self) -> str:
        """Return the SHA-256 (hex) of the rule file this set was loaded from."""
        return self._file_hash

    @model_validator(mode="after")
    def _consistent(self) -> RuleSet:
        problems = ruleset_problems(self.rules, self.sources)
        if problems:
            rule_id, problem = problems[0]
            raise ValueError(f"rule {rule_id}: {problem}")
        return self

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with this id; raise KeyError if there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
