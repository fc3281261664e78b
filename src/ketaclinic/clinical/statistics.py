"""Clinic-level outcome statistics: Wilson intervals, medians, Kaplan–Meier.

Everything here takes counts and returns numbers, so the dashboard can hand it the
result of a GROUP BY (a handful of rows whatever the clinic's size) instead of every
patient. Sources:

- Wilson score interval without continuity correction: Wilson EB (1927) J Am Stat Assoc
  22:209-212; recommended over the Wald interval by Newcombe RG (1998) "Two-sided
  confidence intervals for the single proportion: comparison of seven methods",
  Stat Med 17:857-872 (method 3, whose Table I examples the tests reproduce), and by
  Agresti A, Coull BA (1998) Am Stat 52:119-126.
- Kaplan–Meier product-limit estimator: Kaplan EL, Meier P (1958) J Am Stat Assoc
  53:457-481. At a time with both events and censorings the censored patients count as
  still at risk for the events (the usual convention). The median is the first time
  the survival estimate reaches 0.5 or below (Kleinbaum DG, Klein M, Survival Analysis:
  A Self-Learning Text, 3rd ed., ch. 2; its 6-MP leukaemia example is in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "Z95",
    "KaplanMeier",
    "KmStep",
    "kaplan_meier",
    "median_of_counts",
    "wilson_interval",
]

# The 97.5th percentile of the standard normal distribution (two-sided 95 %).
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Return the Wilson score interval (low, high) for successes out of n, or None when n is 0.

    Unlike the Wald interval it never leaves 0..1 and stays sensible at 0 or n successes,
    which small clinic groups often have.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # The exact bounds at 0 and n successes are 0 and 1; float rounding must not move them.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def median_of_counts(counts: Mapping[int, int] | Iterable[tuple[int, int]]) -> float | None:
    """Return the median of values given as (value, how many) pairs, or None when there are none.

    With an even number of values the median is the mean of the two middle ones.
    """
    pairs = sorted(counts.items() if isinstance(counts, Mapping) else counts)
    if any(n < 0 for _, n in pairs):
        raise ValueError("counts cannot be negative")
    total = sum(n for _, n in pairs)
    if total == 0:
        return None
    # 0-based positions of the two middle values (the same one when total is odd).
    lower_pos, upper_pos = (total - 1) // 2, total // 2
    lower: int | None = None
    upper: int | None = None
    seen = 0
    for value, n in pairs:
        if lower is None and seen + n > lower_pos:
            lower = value
        if seen + n > upper_pos:
            upper = value
            break
        seen += n
    assert lower is not None and upper is not None
    return (lower + upper) / 2


@dataclass(frozen=True)
class KmStep:
    """The estimate just after `time`: at risk before it, events and censorings at it."""

    time: float
    at_risk: int
    events: int
    censored: int
    survival: float


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve: its steps (one per distinct time) and its median.

    `median` is None when the estimate never reaches 0.5 (fewer than half had the event
    by the last time anyone was followed).
    """

    n: int
    events: int
    steps: tuple[KmStep, ...]
    median: float | None

    def cumulative(self) -> list[tuple[float, float]]:
        """(time, 1 - survival) after each step: the share who had the event by then."""
        return [(s.time, 1 - s.survival) for s in self.steps]


def kaplan_meier(observations: Iterable[tuple[float, bool, int]]) -> KaplanMeier:
    """Return the Kaplan–Meier estimate from (time, had the event, how many) triples.

    A triple with False is that many patients censored at `time` (still followed, no
    event yet: for time to response, patients still in treatment). Several triples with
    the same time and kind add up, so a GROUP BY's rows can be passed as they come.
    """
    events_at: dict[float, int] = {}
    censored_at: dict[float, int] = {}
    for time, event, count in observations:
        if count < 0 or time < 0 or math.isnan(time):
            raise ValueError(f"invalid observation ({time}, {event}, {count})")
        target = events_at if event else censored_at
        target[time] = target.get(time, 0) + count
    n = sum(events_at.values()) + sum(censored_at.values())
    at_risk = n
    survival = 1.0
    steps = []
    median: float | None = None
    for time in sorted(set(events_at) | set(censored_at)):
        d, c = events_at.get(time, 0), censored_at.get(time, 0)
        if d + c == 0:
            continue
        if d:
            survival *= 1 - d / at_risk
        steps.append(KmStep(time=time, at_risk=at_risk, events=d, censored=c, survival=survival))
        # A tiny tolerance so that exactly one half, computed in floats, counts as reached.
        if median is None and d and survival <= 0.5 + 1e-12:
            median = time
        at_risk -= d + c
    return KaplanMeier(n=n, events=sum(events_at.values()), steps=tuple(steps), median=median)
