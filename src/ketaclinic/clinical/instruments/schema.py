"""Pydantic schema for questionnaire definitions (the YAML files under definitions/).

A definition is validated completely when it loads, so scoring code can trust it:
items are numbered 1..n, every answer option is typed, severity bands cover the
score range without gaps or overlaps, and every rule names items that exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

SnakeCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
# Subscale codes may be upper case because published cluster names are (PCL-5 "B".."E").
SubscaleCode = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
LoincCode = Annotated[str, Field(pattern=r"^\d{1,8}-\d$")]
Text = Annotated[str, Field(min_length=1)]
ItemNumber = Annotated[int, Field(ge=1)]


def _answer_value(value: object) -> int | bool:
    # Strict on purpose: "1", 1.0 or "yes" in a definition is a typo, not a value to coerce.
    if isinstance(value, int):  # bool is an int too, and is kept as bool
        return value
    raise ValueError("must be an integer, or true/false for a yes/no item")


AnswerValue = Annotated[
    int | bool,
    PlainValidator(_answer_value),
    WithJsonSchema({"type": ["integer", "boolean"]}),
]

Rater = Literal["self", "clinician", "observer"]
AlertLevel = Literal["urgent", "high", "caution", "info"]
ScoringKind = Literal["sum", "domain_max_sum", "single", "risk_level"]
Comparison = Literal[">", ">=", "==", "<=", "<"]

ALERT_LEVELS: tuple[str, ...] = ("urgent", "high", "caution", "info")


def compare(left: int | bool, op: str, right: int | bool) -> bool:
    """Return the result of `left op right` for one of the schema's comparison operators."""
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "==":
        return left == right
    if op == "<=":
        return left <= right
    if op == "<":
        return left < right
    raise ValueError(f"unknown comparison {op!r}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AnswerOption(_Model):
    """One allowed answer: the stored value and the label shown to the person answering."""

    value: AnswerValue
    label: Text


class Item(_Model):
    """One question, in published order."""

    number: ItemNumber
    text: Text
    options: tuple[AnswerOption, ...] = Field(min_length=1)
    loinc: LoincCode | None = None

    @model_validator(mode="after")
    def _options_are_consistent(self) -> Item:
        values = [o.value for o in self.options]
        kinds = {type(v) for v in values}
        if len(kinds) != 1:
            raise ValueError("options mix yes/no (true/false) and numeric values")
        if len(set(values)) != len(values):
            raise ValueError("options repeat a value")
        if kinds == {bool} and set(values) != {True, False}:
            raise ValueError("a yes/no item needs exactly the options true and false")
        return self

    @property
    def is_boolean(self) -> bool:
        """Return True when the item is answered yes/no (true/false)."""
        return isinstance(self.options[0].value, bool)

    @property
    def allowed_values(self) -> tuple[int | bool, ...]:
        """Return the allowed answer values in the order the definition lists them."""
        return tuple(o.value for o in self.options)


class LoincCodes(_Model):
    """LOINC codes for the panel and its result (total score, or risk level for C-SSRS)."""

    panel: LoincCode | None = None
    total: LoincCode | None = None
    risk_level: LoincCode | None = None


class Subscale(_Model):
    """A named group of items: a cluster summed (PCL-5) or a domain maxed (QIDS-SR16)."""

    code: SubscaleCode
    label: Text
    items: tuple[ItemNumber, ...] = Field(min_length=1)


class MissingRule(_Model):
    """Whether items may be skipped and how a total is made when some are."""

    skips_allowed: bool = False
    max_missing_for_total: int = Field(default=0, ge=0)
    # prorate_mean: total = mean of the answered items x number of items, rounded half up.
    method: Literal["prorate_mean"] | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _method_needed(self) -> MissingRule:
        if self.max_missing_for_total > 0 and self.method is None:
            raise ValueError("max_missing_for_total > 0 needs a method")
        if self.max_missing_for_total > 0 and not self.skips_allowed:
            raise ValueError("max_missing_for_total > 0 needs skips_allowed: true")
        return self


class OneOfGroup(_Model):
    """Items of which at least one must be answered; the others may be left blank.

    QIDS-SR16 asks for either item 6 or 7 (appetite) and either 8 or 9 (weight). A
    blank alternative scores nothing: the group's domain takes the highest answered item.
    """

    items: tuple[ItemNumber, ...] = Field(min_length=2)
    source: Text


class SkipRule(_Model):
    """Items that must be skipped when the gate item has a given answer, and answered otherwise."""

    gate: ItemNumber
    when: AnswerValue
    skip: tuple[ItemNumber, ...] = Field(min_length=1)


class RiskLevel(_Model):
    """One risk level, listed lowest first."""

    code: SnakeCode
    label: Text


class RiskRule(_Model):
    """The level reached when any listed yes/no item is answered yes; first matching rule wins."""

    level: SnakeCode
    any_yes: tuple[ItemNumber, ...] = Field(min_length=1)


class Cutoff(_Model):
    """A total at or above `value` is a positive screen (PCL-5 provisional PTSD)."""

    value: int
    source: Text


class ClusterRequirement(_Model):
    """At least `at_least` items of `subscale` rated at or above the endorsement value."""

    subscale: SubscaleCode
    at_least: int = Field(ge=1)


class ItemPatternRule(_Model):
    """A provisional-diagnosis rule over endorsed items (PCL-5 DSM-5 rule)."""

    endorsed_at_or_above: int
    require: tuple[ClusterRequirement, ...] = Field(min_length=1)
    source: Text


class Scoring(_Model):
    """How answers become a total (or, for C-SSRS, a risk level)."""

    kind: ScoringKind
    min: int | None = None
    max: int | None = None
    subscales: tuple[Subscale, ...] = ()
    domains: tuple[Subscale, ...] = ()
    missing: MissingRule = MissingRule()
    answer_one_of: tuple[OneOfGroup, ...] = ()
    skip_rules: tuple[SkipRule, ...] = ()
    risk_levels: tuple[RiskLevel, ...] = ()
    risk_rules: tuple[RiskRule, ...] = ()
    default_risk_level: SnakeCode | None = None
    cutoff: Cutoff | None = None
    provisional_diagnosis: ItemPatternRule | None = None
    source: Text


class SeverityBand(_Model):
    """A closed range of totals [min, max] with a stable code and a label."""

    code: SnakeCode
    label: Text
    min: int
    max: int


class AlertRule(_Model):
    """An alert raised by one item's answer, by that item left blank, or by the severity reached.

    Triggers, exactly one per rule: `item` + `op` + `value` (the answer compares), `item` +
    `skipped: true` (the item was left unanswered: a skipped suicidality item is not a
    "no"), or `severity_in` (the severity / risk level reached).
    """

    code: SnakeCode
    level: AlertLevel
    message: Text
    source: Text
    item: ItemNumber | None = None
    op: Comparison | None = None
    value: AnswerValue | None = None
    skipped: bool = False
    severity_in: tuple[SnakeCode, ...] | None = None

    @model_validator(mode="after")
    def _one_trigger(self) -> AlertRule:
        by_answer = self.op is not None and self.value is not None
        half_answer = (self.op is None) != (self.value is None)
        kinds = [by_answer, self.skipped, self.severity_in is not None].count(True)
        needs_item = by_answer or self.skipped
        if kinds != 1 or half_answer or needs_item != (self.item is not None):
            raise ValueError(
                "an alert rule needs either item, op and value, or item and skipped: true, "
                "or severity_in"
            )
        return self


class ResponseRule(_Model):
    """Response: the total falls by at least `min_reduction_percent` of the baseline."""

    min_reduction_percent: int = Field(gt=0, le=100)
    source: Text


class RemissionRule(_Model):
    """Remission: the latest total compares to `value` (or falls below the cutoff)."""

    op: Literal["<", "<="] = "<"
    value: int | None = None
    below_cutoff: bool = False
    source: Text = "policy"

    @model_validator(mode="after")
    def _value_or_cutoff(self) -> RemissionRule:
        if (self.value is None) == (not self.below_cutoff):
            raise ValueError("a remission rule needs either value or below_cutoff: true")
        if self.below_cutoff and self.op != "<":
            raise ValueError("below_cutoff remission uses op '<'")
        return self


class ImprovementLevel(_Model):
    """A named size of improvement, by percent reduction or by points dropped."""

    code: SnakeCode
    label: Text
    min_reduction_percent: int | None = Field(default=None, gt=0, le=100)
    min_drop_points: int | None = Field(default=None, gt=0)
    source: Text

    @model_validator(mode="after")
    def _one_measure(self) -> ImprovementLevel:
        if (self.min_reduction_percent is None) == (self.min_drop_points is None):
            raise ValueError("give exactly one of min_reduction_percent or min_drop_points")
        return self


class OutcomeRules(_Model):
    """How change over a course is judged; lower totals are better for every rule here."""

    response: ResponseRule | None = None
    remission: RemissionRule | None = None
    # Listed smallest first; an outcome reports the largest level met.
    improvement_levels: tuple[ImprovementLevel, ...] = ()


class Instrument(_Model):
    """A validated questionnaire definition."""

    code: SnakeCode
    version: int = Field(ge=1)
    title: Text
    recall_period: str | None = None
    rater: Rater
    license: Text
    source: Text
    instructions: str | None = None
    loinc: LoincCodes = LoincCodes()
    items: tuple[Item, ...] = Field(min_length=1)
    scoring: Scoring
    severity_bands: tuple[SeverityBand, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    outcomes: OutcomeRules = OutcomeRules()
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve_answer_sets(cls, data: Any) -> Any:
        """Replace `answers: <set name>` on items by that set's options."""
        if not isinstance(data, dict) or "answer_sets" not in data:
            return data
        data = dict(data)
        sets = data.pop("answer_sets")
        if not isinstance(sets, dict):
            raise ValueError("answer_sets must map a name to a list of options")
        items = data.get("items")
        if isinstance(items, list):
            resolved = []
            for index, item in enumerate(items):
                if isinstance(item, dict) and "answers" in item:
                    item = dict(item)
                    name = item.pop("answers")
                    if "options" in item:
                        raise ValueError(f"items.{index}: give either answers or options")
                    if name not in sets:
                        raise ValueError(f"items.{index}.answers: unknown answer set {name!r}")
                    item["options"] = sets[name]
                resolved.append(item)
            data["items"] = resolved
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        numbers = [i.number for i in self.items]
        if numbers != list(range(1, len(self.items) + 1)):
            raise ValueError("items must be numbered 1, 2, 3 ... in order")
        self._check_kind()
        self._check_groups()
        self._check_range_and_bands()
        self._check_alerts()
        self._check_outcomes()
        return self

    def _known(self, number: int, where: str) -> Item:
        if not 1 <= number <= len(self.items):
            raise ValueError(f"{where}: there is no item {number}")
        return self.items[number - 1]

    def _check_kind(self) -> None:
        s = self.scoring
        boolean = [i.is_boolean for i in self.items]
        if s.kind == "risk_level":
            if not all(boolean):
                raise ValueError("scoring.kind risk_level needs yes/no items only")
            if not s.risk_levels or s.default_risk_level is None:
                raise ValueError("scoring.kind risk_level needs risk_levels and default_risk_level")
            if self.severity_bands:
                raise ValueError("risk_level instruments report risk_levels, not severity_bands")
            if s.missing.skips_allowed:
                raise ValueError("risk_level instruments skip items only through skip_rules")
            return
        if any(boolean):
            raise ValueError(f"scoring.kind {s.kind} needs numeric items only")
        if s.skip_rules or s.risk_levels or s.risk_rules or s.default_risk_level:
            raise ValueError("skip_rules and risk rules belong to scoring.kind risk_level")
        if s.kind == "single" and len(self.items) != 1:
            raise ValueError("scoring.kind single needs exactly one item")
        if s.kind == "domain_max_sum" and not s.domains:
            raise ValueError("scoring.kind domain_max_sum needs domains")
        if s.kind != "domain_max_sum" and s.domains:
            raise ValueError("domains belong to scoring.kind domain_max_sum")
        if s.answer_one_of and s.kind != "domain_max_sum":
            raise ValueError("scoring.answer_one_of belongs to scoring.kind domain_max_sum")
        if s.missing.method is not None and (s.kind != "sum" or s.subscales):
            raise ValueError("prorating missing items is supported only for a plain sum")

    def _check_groups(self) -> None:
        s = self.scoring
        for label, groups in (("subscales", s.subscales), ("domains", s.domains)):
            codes = [g.code for g in groups]
            if len(set(codes)) != len(codes):
                raise ValueError(f"scoring.{label}: codes repeat")
            for g in groups:
                for n in g.items:
                    self._known(n, f"scoring.{label}.{g.code}")
        if s.domains:
            covered = sorted(n for g in s.domains for n in g.items)
            if covered != list(range(1, len(self.items) + 1)):
                raise ValueError("scoring.domains must use every item exactly once")
        seen: set[int] = set()
        for group in s.answer_one_of:
            for n in group.items:
                self._known(n, "scoring.answer_one_of")
            if seen & set(group.items) or len(set(group.items)) != len(group.items):
                raise ValueError("scoring.answer_one_of: an item is named twice")
            seen |= set(group.items)
            # Scoring a blank as "nothing" is exact only inside one max-of-group domain.
            if not any(set(group.items) <= set(d.items) for d in s.domains):
                raise ValueError("scoring.answer_one_of: a group's items must share one domain")
        if s.provisional_diagnosis is not None:
            known = {g.code for g in s.subscales}
            for req in s.provisional_diagnosis.require:
                if req.subscale not in known:
                    raise ValueError(
                        f"scoring.provisional_diagnosis: unknown subscale {req.subscale!r}"
                    )
        for rule in s.skip_rules:
            gate = self._known(rule.gate, "scoring.skip_rules.gate")
            if rule.when not in gate.allowed_values or type(rule.when) is not type(
                gate.allowed_values[0]
            ):
                raise ValueError(f"scoring.skip_rules: item {rule.gate} cannot be {rule.when!r}")
            for n in rule.skip:
                self._known(n, "scoring.skip_rules.skip")
                if n <= rule.gate:
                    raise ValueError("scoring.skip_rules: skipped items must follow their gate")
        level_codes = [r.code for r in s.risk_levels]
        if len(set(level_codes)) != len(level_codes):
            raise ValueError("scoring.risk_levels: codes repeat")
        if s.default_risk_level is not None and s.default_risk_level not in level_codes:
            raise ValueError(f"scoring.default_risk_level: unknown level {s.default_risk_level!r}")
        for risk in s.risk_rules:
            if risk.level not in level_codes:
                raise ValueError(f"scoring.risk_rules: unknown level {risk.level!r}")
            for n in risk.any_yes:
                self._known(n, "scoring.risk_rules.any_yes")

    def _check_range_and_bands(self) -> None:
        s = self.scoring
        if s.kind == "risk_level":
            return
        low, high = self.score_range()
        for name, declared, actual in (("min", s.min, low), ("max", s.max, high)):
            if declared != actual:
                raise ValueError(
                    f"scoring.{name}: declared {declared} but the items give {low}-{high}"
                )
        if self.severity_bands:
            codes = [b.code for b in self.severity_bands]
            if len(set(codes)) != len(codes):
                raise ValueError("severity_bands: codes repeat")
            expected = low
            for band in self.severity_bands:
                if band.min != expected or band.max < band.min:
                    raise ValueError(
                        f"severity_bands.{band.code}: must start at {expected} with max >= min "
                        "(bands run in order without gaps or overlaps)"
                    )
                expected = band.max + 1
            if expected != high + 1:
                raise ValueError(f"severity_bands must end at the maximum total {high}")
        if s.cutoff is not None and not low < s.cutoff.value <= high:
            raise ValueError("scoring.cutoff.value is outside the score range")

    def _check_alerts(self) -> None:
        s = self.scoring
        # Items whose blank is allowed by design: never a "skipped" answer to alert on.
        by_design = {n for g in s.answer_one_of for n in g.items} | {
            n for r in s.skip_rules for n in r.skip
        }
        for rule in self.alerts:
            if rule.item is not None and rule.skipped:
                self._known(rule.item, f"alerts.{rule.code}")
                if rule.item in by_design:
                    raise ValueError(
                        f"alerts.{rule.code}: item {rule.item} may be left blank by design, "
                        "so skipped: true cannot apply to it"
                    )
            elif rule.item is not None:
                item = self._known(rule.item, f"alerts.{rule.code}")
                if type(rule.value) is not type(item.allowed_values[0]):
                    raise ValueError(f"alerts.{rule.code}: value type does not match item")
            else:
                known = set(self.severity_codes())
                for code in rule.severity_in or ():
                    if code not in known:
                        raise ValueError(f"alerts.{rule.code}: unknown severity {code!r}")

    def _check_outcomes(self) -> None:
        o = self.outcomes
        if (o.response or o.remission or o.improvement_levels) and self.scoring.kind == (
            "risk_level"
        ):
            raise ValueError("outcomes need a numeric total")
        if o.remission is not None:
            if o.remission.below_cutoff and self.scoring.cutoff is None:
                raise ValueError("outcomes.remission.below_cutoff needs scoring.cutoff")
        codes = [lvl.code for lvl in o.improvement_levels]
        if len(set(codes)) != len(codes):
            raise ValueError("outcomes.improvement_levels: codes repeat")

    def score_range(self) -> tuple[int, int]:
        """Return the lowest and highest total the items allow."""

        def lo(i: Item) -> int:
            return min(int(v) for v in i.allowed_values)

        def hi(i: Item) -> int:
            return max(int(v) for v in i.allowed_values)

        if self.scoring.kind == "domain_max_sum":
            groups = [[self.items[n - 1] for n in g.items] for g in self.scoring.domains]
            return (
                sum(max(lo(i) for i in g) for g in groups),
                sum(max(hi(i) for i in g) for g in groups),
            )
        return sum(lo(i) for i in self.items), sum(hi(i) for i in self.items)

    def severity_codes(self) -> tuple[str, ...]:
        """Return the severity (or risk level) codes, least severe first."""
        if self.scoring.kind == "risk_level":
            return tuple(r.code for r in self.scoring.risk_levels)
        return tuple(b.code for b in self.severity_bands)

    def band_for(self, total: int) -> SeverityBand | None:
        """Return the severity band containing `total`, or None when there are no bands."""
        for band in self.severity_bands:
            if band.min <= total <= band.max:
                return band
        return None

    @property
    def key(self) -> str:
        """Return "code@version", the name stored with every result."""
        return f"{self.code}@{self.version}"
