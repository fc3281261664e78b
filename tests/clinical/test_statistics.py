"""Clinic-level statistics against published worked examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.statistics import kaplan_meier, median_of_counts, wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe RG (1998) Stat Med 17:857-872, Table I, method 3 (Wilson score, no CC).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_it_reproduces_newcombes_wilson_intervals(successes, n, low, high):
    got_low, got_high = wilson_interval(successes, n)
    assert round(got_low, 4) == low
    assert round(got_high, 4) == high


def test_it_has_no_interval_without_patients():
    assert wilson_interval(0, 0) is None


def test_it_refuses_more_successes_than_patients():
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)


@given(
    st.integers(min_value=1, max_value=500).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    )
)
def test_the_interval_holds_the_observed_rate_and_stays_in_0_to_1(pair):
    successes, n = pair
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


# The 6-MP arm of Freireich et al. (1963), weeks in remission, censored with a "+";
# Kleinbaum & Klein, Survival Analysis (3rd ed.), chapter 2, computes its KM table by hand.
SIX_MP = [6, 6, 6, "6+", 7, "9+", 10, "10+", "11+", 13, 16, "17+", "19+", "20+", 22, 23,
          "25+", "32+", "32+", "34+", "35+"]  # fmt: skip


def _observations(data):
    for item in data:
        if isinstance(item, str):
            yield float(item[:-1]), False, 1
        else:
            yield float(item), True, 1


def test_it_reproduces_the_textbook_kaplan_meier_table():
    km = kaplan_meier(_observations(SIX_MP))
    table = [(s.time, s.at_risk, s.events, round(s.survival, 3)) for s in km.steps if s.events]
    assert table == [
        (6, 21, 3, 0.857),
        (7, 17, 1, 0.807),
        (10, 15, 1, 0.753),
        (13, 12, 1, 0.690),
        (16, 11, 1, 0.627),
        (22, 7, 1, 0.538),
        (23, 6, 1, 0.448),
    ]
    assert km.median == 23
    assert km.n == 21
    assert km.events == 9


def test_grouped_rows_give_the_same_curve_as_one_row_per_patient():
    grouped = [(6.0, True, 3), (6.0, False, 1)] + [o for o in _observations(SIX_MP[4:])]
    assert kaplan_meier(grouped) == kaplan_meier(_observations(SIX_MP))


def test_censored_patients_are_not_failures():
    # Four still in treatment at day 10, one responded at day 3: 1 of 5 at risk, S = 0.8.
    km = kaplan_meier([(3.0, True, 1), (10.0, False, 4)])
    assert [round(s.survival, 2) for s in km.steps] == [0.8, 0.8]
    assert km.median is None
    assert km.cumulative()[0] == (3.0, pytest.approx(0.2))


def test_the_median_is_reached_at_exactly_one_half():
    km = kaplan_meier([(2.0, True, 1), (5.0, True, 1), (9.0, False, 2)])
    assert km.median == 5.0


def test_kaplan_meier_of_nobody_is_empty():
    km = kaplan_meier([])
    assert (km.n, km.steps, km.median) == (0, (), None)


def test_median_of_counts_takes_the_middle_pair_when_even():
    assert median_of_counts({-8: 1, -3: 2, 0: 1}) == -3.0
    assert median_of_counts({-8: 1, -3: 1, 0: 1, 4: 1}) == -1.5
    assert median_of_counts({}) is None


@given(st.lists(st.integers(-80, 80), min_size=1, max_size=60))
def test_median_of_counts_agrees_with_the_median_of_the_values(values):
    import statistics

    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    assert median_of_counts(counts) == statistics.median(values)
