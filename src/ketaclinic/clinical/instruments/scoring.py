"""Score one completed questionnaire: total, severity, subscores and alerts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .schema import Instrument, Item, compare

__all__ = ["Alert", "AnswerError", "Score", "score"]

Answer = int | bool | None


class AnswerError(ValueError):
    """The answers do not fit the instrument; `item` is the item number, or "answers"."""

    def __init__(self, item: int | str, message: str) -> None:
        self.item = item
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Alert:
    """An alert the answers raise: a stable code, a level (urgent/high/caution/info), a message."""

    code: str
    level: str
    message: str


@dataclass(frozen=True)
class Score:
    """The result of scoring one response, naming the definition version that produced it."""

    instrument: str
    version: int
    total: int | None
    severity: str | None
    severity_label: str | None
    subscores: dict[str, int] = field(default_factory=dict)
    alerts: tuple[Alert, ...] = ()
    complete: bool = True
    prorated: bool = False
    missing_items: tuple[int, ...] = ()
    # PCL-5 only: the DSM-5 item rule, and whether the total reaches the cut-off.
    provisional_diagnosis: bool | None = None
    above_cutoff: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the score as JSON-ready plain data."""
        return {
            "instrument": self.instrument,
            "version": self.version,
            "total": self.total,
            "severity": self.severity,
            "severity_label": self.severity_label,
            "subscores": dict(self.subscores),
            "alerts": [
                {"code": a.code, "level": a.level, "message": a.message} for a in self.alerts
            ],
            "complete": self.complete,
            "prorated": self.prorated,
            "missing_items": list(self.missing_items),
            "provisional_diagnosis": self.provisional_diagnosis,
            "above_cutoff": self.above_cutoff,
        }


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return repr(value)


def _check_value(item: Item, value: object) -> None:
    """Raise AnswerError unless `value` is one of the item's options (type included).

    bool is a subclass of int in Python, so True would pass as 1 on a numeric item
    (and 1 as True on a yes/no item) unless the types are compared exactly.
    """
    allowed = item.allowed_values
    if type(value) is type(allowed[0]) and value in allowed:
        return
    shown = ", ".join(_show(v) for v in allowed)
    raise AnswerError(
        item.number,
        f"item {item.number}: {_show(value)} is not one of the allowed answers {shown}",
    )


def _checked_answers(instrument: Instrument, answers: Sequence[Answer]) -> tuple[Answer, ...]:
    """Return the answers as a tuple after checking count, values and allowed skips."""
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        raise AnswerError("answers", "answers: expected a list of answers in item order")
    n = len(instrument.items)
    if len(answers) != n:
        raise AnswerError("answers", f"answers: expected {n} answers, got {len(answers)}")
    values = tuple(answers)
    for item, value in zip(instrument.items, values, strict=True):
        if value is not None:
            _check_value(item, value)

    scoring = instrument.scoring
    if scoring.kind == "risk_level":
        # Skip logic: each gated item must be skipped when its gate has the gating
        # answer and answered otherwise; every item no rule gates must be answered.
        must_skip: dict[int, tuple[int, Answer]] = {}
        opened_by: dict[int, tuple[int, Answer]] = {}
        for rule in scoring.skip_rules:
            gate_answer = values[rule.gate - 1]
            for number in rule.skip:
                if gate_answer is not None and gate_answer == rule.when:
                    must_skip[number] = (rule.gate, gate_answer)
                else:
                    opened_by.setdefault(number, (rule.gate, gate_answer))
        for item, value in zip(instrument.items, values, strict=True):
            number = item.number
            if number in must_skip:
                if value is not None:
                    gate, gate_answer = must_skip[number]
                    raise AnswerError(
                        number,
                        f"item {number}: must be skipped (null) because item {gate} is "
                        f"{_show(gate_answer)}",
                    )
            elif value is None:
                reason = ""
                if number in opened_by:
                    gate, gate_answer = opened_by[number]
                    reason = f" because item {gate} is {_show(gate_answer)}"
                raise AnswerError(number, f"item {number}: an answer is required{reason}")
    elif not scoring.missing.skips_allowed:
        optional = _blank_alternatives(instrument, values)
        for item, value in zip(instrument.items, values, strict=True):
            if value is None and item.number not in optional:
                raise AnswerError(
                    item.number,
                    f"item {item.number}: an answer is required "
                    f"({instrument.code} does not allow skipped items)",
                )
    return values


def _blank_alternatives(instrument: Instrument, values: tuple[Answer, ...]) -> frozenset[int]:
    """Return the items left blank as allowed by answer_one_of (another of the group answered).

    Raises AnswerError naming the group's first item when none of a group is answered.
    """
    blank: set[int] = set()
    for group in instrument.scoring.answer_one_of:
        skipped = [n for n in group.items if values[n - 1] is None]
        if len(skipped) == len(group.items):
            names = " or ".join(f"item {n}" for n in group.items)
            raise AnswerError(group.items[0], f"item {group.items[0]}: answer {names}")
        blank.update(skipped)
    return frozenset(blank)


def _round_half_up(x: Fraction) -> int:
    # Python's round() rounds halves to even (round(12.5) == 12); clinical prorating
    # conventionally rounds halves up, so round explicitly on the exact fraction.
    return math.floor(x + Fraction(1, 2))


def _alerts(
    instrument: Instrument, values: tuple[Answer, ...], severity: str | None
) -> tuple[Alert, ...]:
    raised: list[Alert] = []
    for rule in instrument.alerts:
        if rule.item is not None and rule.skipped:
            hit = values[rule.item - 1] is None
        elif rule.item is not None and rule.op is not None and rule.value is not None:
            answer = values[rule.item - 1]
            hit = answer is not None and compare(answer, rule.op, rule.value)
        else:
            hit = severity is not None and severity in (rule.severity_in or ())
        if hit:
            raised.append(Alert(code=rule.code, level=rule.level, message=rule.message))
    return tuple(raised)


def _score_risk(instrument: Instrument, values: tuple[Answer, ...]) -> Score:
    scoring = instrument.scoring
    level = scoring.default_risk_level
    for rule in scoring.risk_rules:
        if any(values[n - 1] is True for n in rule.any_yes):
            level = rule.level
            break
    labels = {r.code: r.label for r in scoring.risk_levels}
    return Score(
        instrument=instrument.code,
        version=instrument.version,
        total=None,
        severity=level,
        severity_label=labels[level] if level is not None else None,
        alerts=_alerts(instrument, values, level),
    )


def score(instrument: Instrument, answers: Sequence[Answer]) -> Score:
    """Return the Score for answers given in published item order (None = skipped).

    Raises AnswerError for a wrong number of answers, an answer that is not one of an
    item's options, or a skip the instrument does not allow.
    """
    values = _checked_answers(instrument, answers)
    scoring = instrument.scoring
    if scoring.kind == "risk_level":
        return _score_risk(instrument, values)

    answered = [int(v) for v in values if v is not None]
    # An alternative left blank (QIDS-SR16 item 6 or 7) is not missing: it scores nothing.
    optional = _blank_alternatives(instrument, values)
    missing = tuple(
        i.number
        for i, v in zip(instrument.items, values, strict=True)
        if v is None and i.number not in optional
    )
    subscores: dict[str, int] = {}
    total: int | None
    prorated = False
    if missing and len(missing) > scoring.missing.max_missing_for_total:
        total = None
    elif missing:
        # Prorate (PHQ-9, docs/clinical-sources.md §6.1 (Scores and change) [verify]): mean of the answered items scaled
        # to the full item count, rounded half up.
        total = _round_half_up(Fraction(sum(answered), len(answered)) * len(instrument.items))
        prorated = True
    elif scoring.kind == "domain_max_sum":
        for domain in scoring.domains:
            # The highest answered item; answer_one_of guarantees one is answered.
            subscores[domain.code] = max(
                int(v) for v in (values[n - 1] for n in domain.items) if v is not None
            )
        total = sum(subscores.values())
    else:
        total = sum(answered)

    if total is not None:
        for sub in scoring.subscales:
            subscores[sub.code] = sum(int(values[n - 1] or 0) for n in sub.items)

    band = instrument.band_for(total) if total is not None else None
    severity = band.code if band else None

    provisional: bool | None = None
    above_cutoff: bool | None = None
    if total is not None and scoring.provisional_diagnosis is not None:
        rule = scoring.provisional_diagnosis
        groups = {s.code: s.items for s in scoring.subscales}
        provisional = all(
            sum(
                1
                for n in groups[req.subscale]
                if int(values[n - 1] or 0) >= rule.endorsed_at_or_above
            )
            >= req.at_least
            for req in rule.require
        )
    if total is not None and scoring.cutoff is not None:
        above_cutoff = total >= scoring.cutoff.value

    return Score(
        instrument=instrument.code,
        version=instrument.version,
        total=total,
        severity=severity,
        severity_label=band.label if band else None,
        subscores=subscores,
        alerts=_alerts(instrument, values, severity),
        complete=total is not None,
        prorated=prorated,
        missing_items=missing,
        provisional_diagnosis=provisional,
        above_cutoff=above_cutoff,
    )
