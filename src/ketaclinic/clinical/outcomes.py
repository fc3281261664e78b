"""Outcome statistics over a course of treatment: baseline, change, response, remission.

Every rule comes from the instrument definition (its `outcomes:` block), so a clinic
that changes a threshold changes data, not code. Lower totals are better for every
instrument that has outcome rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ketaclinic.clinical.instruments.schema import Instrument, RemissionRule, compare

__all__ = ["ClinicRates", "OutcomeSummary", "ScorePoint", "clinic_rates", "summarize"]


@dataclass(frozen=True)
class ScorePoint:
    """One total and when it was recorded."""

    at: datetime
    total: int


@dataclass(frozen=True)
class OutcomeSummary:
    """One patient's course on one instrument.

    `change` and `percent_change` are None when there is no score after the baseline
    (a single score has no change yet); `percent_change` also when the baseline is 0.
    `response`, `remission` and `improvement` are None when the instrument has no such
    rule, when there is no score after the baseline yet, when treatment started before
    any score (`baseline_before_treatment` False: the first score already reflects
    treatment, so judging against it would flatter or hide the effect), or (for
    percent-based rules) when the baseline is 0.
    """

    instrument: str
    version: int
    count: int
    baseline: ScorePoint
    latest: ScorePoint
    has_follow_up: bool
    baseline_before_treatment: bool
    change: int | None
    percent_change: float | None
    response: bool | None
    remission: bool | None
    remission_rule: str | None
    improvement: str | None
    improvement_label: str | None
    time_to_first_response_days: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready plain data (times in ISO 8601)."""
        return {
            "instrument": self.instrument,
            "version": self.version,
            "count": self.count,
            "baseline": {"at": self.baseline.at.isoformat(), "total": self.baseline.total},
            "latest": {"at": self.latest.at.isoformat(), "total": self.latest.total},
            "has_follow_up": self.has_follow_up,
            "baseline_before_treatment": self.baseline_before_treatment,
            "change": self.change,
            "percent_change": self.percent_change,
            "response": self.response,
            "remission": self.remission,
            "remission_rule": self.remission_rule,
            "improvement": self.improvement,
            "improvement_label": self.improvement_label,
            "time_to_first_response_days": self.time_to_first_response_days,
        }


@dataclass(frozen=True)
class ClinicRates:
    """Response and remission rates over many patients' summaries for one instrument.

    Each rate's denominator is the number of summaries where it could be judged
    (`response_evaluable`, `remission_evaluable`); a rate is None when that is 0.
    Small-cell suppression for published figures is the caller's job.
    """

    instrument: str | None
    n: int
    responders: int
    remitters: int
    response_evaluable: int
    remission_evaluable: int
    response_rate: float | None
    remission_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the rates as JSON-ready plain data."""
        return {
            "instrument": self.instrument,
            "n": self.n,
            "responders": self.responders,
            "remitters": self.remitters,
            "response_evaluable": self.response_evaluable,
            "remission_evaluable": self.remission_evaluable,
            "response_rate": self.response_rate,
            "remission_rate": self.remission_rate,
        }


def _round1(value: Decimal) -> float:
    # Half up, like the clinic's own arithmetic (Python's round() would round halves to even).
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _reduction_at_least(baseline: int, total: int, percent: int) -> bool:
    # Integer arithmetic, so exactly 50 % counts as a 50 % reduction with no float error.
    return (baseline - total) * 100 >= percent * baseline


def _remission_rule(
    instrument: Instrument, overrides: Mapping[str, int | RemissionRule] | None
) -> tuple[str, int] | None:
    """Return the (operator, value) remission test for this instrument, with any override."""
    rule = instrument.outcomes.remission
    override = (overrides or {}).get(instrument.code)
    if isinstance(override, RemissionRule):
        rule = override
    if rule is None:
        return None
    cutoff = instrument.scoring.cutoff
    if rule.below_cutoff:
        if cutoff is None:
            raise ValueError(f"{instrument.code}: remission below the cut-off needs a cut-off")
        op, value = "<", cutoff.value
    else:
        if rule.value is None:  # RemissionRule's validator rules this out
            raise ValueError(f"{instrument.code}: remission rule has no value")
        op, value = rule.op, rule.value
    if isinstance(override, int) and not isinstance(override, bool):
        # A bare number keeps the instrument's operator: {"madrs": 12} means MADRS <= 12.
        value = override
    elif override is not None and not isinstance(override, RemissionRule):
        raise ValueError(f"remission override for {instrument.code} must be an int or rule")
    return op, value


def summarize(
    instrument: Instrument,
    scores: Sequence[tuple[datetime, int]],
    first_treatment_at: datetime | None,
    remission_overrides: Mapping[str, int | RemissionRule] | None = None,
) -> OutcomeSummary:
    """Return the OutcomeSummary of one patient's totals on one instrument.

    Baseline is the last score at or before the first treatment session, or the first
    score when there is no treatment yet. When treatment started before any score, the
    first score is reported as the baseline with `baseline_before_treatment` False, and
    response, remission and improvement are not judged (None). `remission_overrides`
    maps an instrument code to a programme's own remission threshold (an int keeps the
    instrument's operator) or a full RemissionRule.
    """
    if not scores:
        raise ValueError("summarize needs at least one score")
    if instrument.scoring.kind == "risk_level":
        raise ValueError(f"{instrument.code} reports a risk level, not a total to summarize")
    low, high = instrument.score_range()
    for at, total in scores:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("score times must be timezone-aware")
        if isinstance(total, bool) or not isinstance(total, int) or not low <= total <= high:
            raise ValueError(f"{instrument.code} total {total!r} is outside {low}-{high}")
    if first_treatment_at is not None and first_treatment_at.utcoffset() is None:
        raise ValueError("first_treatment_at must be timezone-aware")

    # Stable sort: scores recorded at the same instant keep their given order.
    points = sorted((ScorePoint(at, total) for at, total in scores), key=lambda p: p.at)
    baseline_index = 0
    before_treatment = True
    if first_treatment_at is not None:
        before = [i for i, p in enumerate(points) if p.at <= first_treatment_at]
        if before:
            baseline_index = before[-1]
        else:
            before_treatment = False
    baseline = points[baseline_index]
    follow_ups = points[baseline_index + 1 :]
    latest = points[-1]
    has_follow_up = bool(follow_ups)
    # Outcome judgements need a true (pre-treatment) baseline and a later score.
    judged = has_follow_up and before_treatment

    change: int | None = None
    percent_change: float | None = None
    if has_follow_up:
        change = latest.total - baseline.total
        if baseline.total:
            percent_change = _round1(Decimal(change) * 100 / Decimal(baseline.total))

    rules = instrument.outcomes
    response: bool | None = None
    time_to_response: float | None = None
    if rules.response is not None and judged and baseline.total > 0:
        percent = rules.response.min_reduction_percent
        response = _reduction_at_least(baseline.total, latest.total, percent)
        if first_treatment_at is not None:
            for p in follow_ups:
                if _reduction_at_least(baseline.total, p.total, percent):
                    days = Decimal((p.at - first_treatment_at).total_seconds()) / 86400
                    time_to_response = _round1(days)
                    break

    remission: bool | None = None
    remission_text: str | None = None
    remission_test = _remission_rule(instrument, remission_overrides)
    if remission_test is not None:
        op, value = remission_test
        remission_text = f"{op} {value}"
        if judged:
            remission = compare(latest.total, op, value)

    improvement: str | None = None
    improvement_label: str | None = None
    if rules.improvement_levels and judged:
        for level in rules.improvement_levels:
            if level.min_drop_points is not None:
                met = baseline.total - latest.total >= level.min_drop_points
            elif baseline.total > 0 and level.min_reduction_percent is not None:
                met = _reduction_at_least(baseline.total, latest.total, level.min_reduction_percent)
            else:
                continue
            # Levels run smallest first, so the last one met is the largest.
            if met:
                improvement, improvement_label = level.code, level.label

    return OutcomeSummary(
        instrument=instrument.code,
        version=instrument.version,
        count=len(points),
        baseline=baseline,
        latest=latest,
        has_follow_up=has_follow_up,
        baseline_before_treatment=before_treatment,
        change=change,
        percent_change=percent_change,
        response=response,
        remission=remission,
        remission_rule=remission_text,
        improvement=improvement,
        improvement_label=improvement_label,
        time_to_first_response_days=time_to_response,
    )


def clinic_rates(summaries: Iterable[OutcomeSummary]) -> ClinicRates:
    """Return response and remission counts and rates over summaries of one instrument."""
    items = list(summaries)
    codes = {s.instrument for s in items}
    if len(codes) > 1:
        raise ValueError(f"clinic_rates needs one instrument, got {sorted(codes)}")
    responders = sum(1 for s in items if s.response is True)
    remitters = sum(1 for s in items if s.remission is True)
    response_n = sum(1 for s in items if s.response is not None)
    remission_n = sum(1 for s in items if s.remission is not None)
    return ClinicRates(
        instrument=codes.pop() if codes else None,
        n=len(items),
        responders=responders,
        remitters=remitters,
        response_evaluable=response_n,
        remission_evaluable=remission_n,
        response_rate=responders / response_n if response_n else None,
        remission_rate=remitters / remission_n if remission_n else None,
    )
