"""Outcome statistics: baseline, change, response, remission, clinic rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.instruments import load_instruments
from ketaclinic.clinical.instruments.schema import RemissionRule
from ketaclinic.clinical.outcomes import ScorePoint, clinic_rates, summarize

INSTRUMENTS = load_instruments()
PHQ9, GAD7, PCL5, MADRS, PAIN, MOAAS = (
    INSTRUMENTS["phq9"],
    INSTRUMENTS["gad7"],
    INSTRUMENTS["pcl5"],
    INSTRUMENTS["madrs"],
    INSTRUMENTS["pain_nrs"],
    INSTRUMENTS["moaas"],
)


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 1, day, hour, tzinfo=UTC)


FIRST_INFUSION = at(10)
# Alice's PHQ-9 course: screened on the 2nd, baseline on the 9th, infusions from the 10th.
ALICE = [
    (at(2), 20),
    (at(9), 18),  # baseline: the last score before the first infusion
    (at(13), 12),
    (at(17, 21), 9),  # 9 is exactly half of 18: first response, 7.5 days after the 10th 09:00
    (at(31), 4),
]


def test_alice_responds_and_remits():
    summary = summarize(PHQ9, ALICE, FIRST_INFUSION)
    assert summary.baseline == ScorePoint(at(9), 18)
    assert summary.latest == ScorePoint(at(31), 4)
    assert summary.count == 5
    assert summary.change == -14
    assert summary.percent_change == -77.8  # -14 / 18 = -77.77...%
    assert summary.response is True
    assert summary.remission is True
    assert summary.remission_rule == "< 5"
    assert summary.time_to_first_response_days == 7.5
    assert summary.has_follow_up is True
    assert (summary.instrument, summary.version) == ("phq9", 1)


def test_scores_given_out_of_order_give_the_same_summary():
    shuffled = [ALICE[3], ALICE[0], ALICE[4], ALICE[2], ALICE[1]]
    assert summarize(PHQ9, shuffled, FIRST_INFUSION) == summarize(PHQ9, ALICE, FIRST_INFUSION)


def test_summary_to_dict():
    assert summarize(PHQ9, ALICE, FIRST_INFUSION).to_dict() == {
        "instrument": "phq9",
        "version": 1,
        "count": 5,
        "baseline": {"at": "2025-01-09T09:00:00+00:00", "total": 18},
        "latest": {"at": "2025-01-31T09:00:00+00:00", "total": 4},
        "has_follow_up": True,
        "baseline_before_treatment": True,
        "change": -14,
        "percent_change": -77.8,
        "response": True,
        "remission": True,
        "remission_rule": "< 5",
        "improvement": None,
        "improvement_label": None,
        "time_to_first_response_days": 7.5,
    }


def test_a_score_at_the_first_treatment_time_is_the_baseline():
    summary = summarize(PHQ9, [(at(9), 16), (at(10), 14), (at(12), 7)], FIRST_INFUSION)
    assert summary.baseline == ScorePoint(at(10), 14)
    assert (summary.change, summary.percent_change, summary.response) == (-7, -50.0, True)
    assert summary.time_to_first_response_days == 2.0


def test_just_under_half_is_not_a_response():
    summary = summarize(PHQ9, [(at(9), 18), (at(20), 10)], FIRST_INFUSION)
    assert (summary.percent_change, summary.response, summary.remission) == (-44.4, False, False)
    assert summary.time_to_first_response_days is None


def test_response_is_judged_on_the_latest_score_but_timed_at_the_first():
    # Bob responded on the 14th, then relapsed.
    scores = [(at(9), 20), (at(14), 8), (at(28), 15)]
    summary = summarize(PHQ9, scores, FIRST_INFUSION)
    assert (summary.response, summary.remission) == (False, False)
    assert summary.time_to_first_response_days == 4.0
    assert summary.percent_change == -25.0


def test_a_single_score_has_no_outcome_yet():
    summary = summarize(PHQ9, [(at(9), 15)], FIRST_INFUSION)
    assert summary.baseline == summary.latest == ScorePoint(at(9), 15)
    # Nothing to compare with yet: no change rather than "0, unchanged".
    assert (summary.count, summary.change, summary.percent_change) == (1, None, None)
    assert (summary.response, summary.remission, summary.has_follow_up) == (None, None, False)
    assert summary.time_to_first_response_days is None
    assert summary.remission_rule == "< 5"


def test_a_zero_baseline_has_no_percent_change_or_response():
    summary = summarize(GAD7, [(at(9), 0), (at(20), 6)], FIRST_INFUSION)
    assert (summary.change, summary.percent_change, summary.response) == (6, None, None)
    assert summary.remission is False


def test_before_any_treatment_the_first_score_is_the_baseline():
    summary = summarize(PHQ9, [(at(20), 8), (at(2), 20), (at(9), 18)], None)
    assert summary.baseline == ScorePoint(at(2), 20)
    assert summary.latest == ScorePoint(at(20), 8)
    assert (summary.change, summary.percent_change, summary.response) == (-12, -60.0, True)
    assert summary.time_to_first_response_days is None


def test_with_no_score_before_treatment_response_and_remission_are_not_judged():
    # Dosed on the 10th, first PHQ-9 on the 12th: 16 already reflects treatment, so
    # 16 -> 4 is not reported as a response or a remission.
    summary = summarize(PHQ9, [(at(12), 16), (at(19), 4)], FIRST_INFUSION)
    assert summary.baseline == ScorePoint(at(12), 16)
    assert summary.baseline_before_treatment is False
    assert (summary.change, summary.percent_change) == (-12, -75.0)
    assert (summary.response, summary.remission, summary.improvement) == (None, None, None)
    assert summary.time_to_first_response_days is None
    assert summary.remission_rule == "< 5"


def test_a_pcl5_drop_after_a_late_baseline_is_not_called_meaningful():
    summary = summarize(PCL5, [(at(12), 50), (at(30), 30)], FIRST_INFUSION)
    assert summary.baseline_before_treatment is False
    assert (summary.change, summary.improvement, summary.remission) == (-20, None, None)


def test_without_treatment_the_first_score_is_a_true_baseline():
    summary = summarize(PHQ9, [(at(12), 16), (at(19), 4)], None)
    assert summary.baseline_before_treatment is True
    assert (summary.response, summary.remission) == (True, True)


def test_scores_only_before_treatment_have_no_change_yet():
    # 20 then 18 before the first infusion: 18 is the baseline and nothing follows it.
    summary = summarize(PHQ9, [(at(2), 20), (at(9), 18)], FIRST_INFUSION)
    assert summary.baseline == summary.latest == ScorePoint(at(9), 18)
    assert (summary.change, summary.percent_change, summary.response) == (None, None, None)
    assert summary.baseline_before_treatment is True


def test_a_worsening_course_has_a_positive_change():
    summary = summarize(PHQ9, [(at(9), 10), (at(20), 13)], FIRST_INFUSION)
    assert (summary.change, summary.percent_change, summary.response) == (3, 30.0, False)


def test_percent_change_rounds_half_up():
    # -1/16 = -6.25 % -> -6.3 (round-half-even on the float would give -6.2)
    summary = summarize(PHQ9, [(at(9), 16), (at(20), 15)], FIRST_INFUSION)
    assert summary.percent_change == -6.3


def test_madrs_remission_default_and_programme_override():
    scores = [(at(9), 30), (at(20), 12)]
    default = summarize(MADRS, scores, FIRST_INFUSION)
    assert (default.remission, default.remission_rule, default.response) == (False, "<= 10", True)
    trials = summarize(MADRS, scores, FIRST_INFUSION, remission_overrides={"madrs": 12})
    assert (trials.remission, trials.remission_rule) == (True, "<= 12")
    strict = summarize(
        MADRS,
        scores,
        FIRST_INFUSION,
        remission_overrides={"madrs": RemissionRule(op="<", value=10, source="Hawley 2002")},
    )
    assert (strict.remission, strict.remission_rule) == (False, "< 10")


def test_an_override_for_another_instrument_changes_nothing():
    summary = summarize(PHQ9, ALICE, FIRST_INFUSION, remission_overrides={"madrs": 12})
    assert summary.remission_rule == "< 5"


def test_pcl5_meaningful_change_and_remission_below_the_cutoff():
    summary = summarize(PCL5, [(at(9), 50), (at(30), 38)], FIRST_INFUSION)
    assert (summary.change, summary.improvement) == (-12, "clinically_meaningful")
    assert summary.improvement_label == "Clinically meaningful change"
    assert (summary.response, summary.remission, summary.remission_rule) == (None, False, "< 33")

    reliable = summarize(PCL5, [(at(9), 40), (at(30), 32)], FIRST_INFUSION)
    assert (reliable.improvement, reliable.remission) == ("reliable_change", True)

    small = summarize(PCL5, [(at(9), 40), (at(30), 36)], FIRST_INFUSION)
    assert small.improvement is None


def test_pcl5_cutoff_override_moves_remission():
    summary = summarize(
        PCL5, [(at(9), 40), (at(30), 32)], FIRST_INFUSION, remission_overrides={"pcl5": 31}
    )
    assert (summary.remission, summary.remission_rule) == (False, "< 31")


@pytest.mark.parametrize(
    ("latest", "improvement"),
    [(6, None), (5, None), (4, "moderate"), (3, "substantial"), (0, "substantial")],
)
def test_pain_improvement_levels(latest, improvement):
    # baseline 7: 30 % of 7 = 2.1, so a drop of 3 (42.9 %) is moderate; 50 % = 3.5, so 4 (57.1 %)
    summary = summarize(PAIN, [(at(9), 7), (at(20), latest)], FIRST_INFUSION)
    assert summary.improvement == improvement
    assert (summary.response, summary.remission, summary.remission_rule) == (None, None, None)


def test_pain_improvement_needs_a_nonzero_baseline():
    summary = summarize(PAIN, [(at(9), 0), (at(20), 0)], FIRST_INFUSION)
    assert summary.improvement is None


def test_an_instrument_without_outcome_rules_reports_only_change():
    summary = summarize(MOAAS, [(at(9), 5), (at(9, 10), 3)], None)
    assert (summary.change, summary.response, summary.remission, summary.improvement) == (
        -2,
        None,
        None,
        None,
    )


def test_it_refuses_the_cssrs_risk_level():
    with pytest.raises(ValueError, match="risk level"):
        summarize(INSTRUMENTS["cssrs_screen"], [(at(9), 1)], None)


def test_it_refuses_no_scores():
    with pytest.raises(ValueError, match="at least one score"):
        summarize(PHQ9, [], None)


def test_it_refuses_a_total_outside_the_range():
    with pytest.raises(ValueError, match="phq9 total 28 is outside 0-27"):
        summarize(PHQ9, [(at(9), 28)], None)


def test_it_refuses_naive_times():
    with pytest.raises(ValueError, match="timezone-aware"):
        summarize(PHQ9, [(datetime(2025, 1, 9), 10)], None)
    with pytest.raises(ValueError, match="timezone-aware"):
        summarize(PHQ9, [(at(9), 10)], datetime(2025, 1, 10))


# --- clinic rates ---------------------------------------------------------------------


def test_clinic_rates_count_only_patients_who_can_be_judged():
    summaries = [
        summarize(PHQ9, ALICE, FIRST_INFUSION),  # responder, remitter
        summarize(PHQ9, [(at(9), 20), (at(20), 12)], FIRST_INFUSION),  # neither
        summarize(
            PHQ9, [(at(9), 14), (at(20), 6)], FIRST_INFUSION
        ),  # responder (57 %), not remitted
        summarize(PHQ9, [(at(9), 14)], FIRST_INFUSION),  # no follow-up yet
    ]
    rates = clinic_rates(summaries)
    assert rates.to_dict() == {
        "instrument": "phq9",
        "n": 4,
        "responders": 2,
        "remitters": 1,
        "response_evaluable": 3,
        "remission_evaluable": 3,
        "response_rate": 2 / 3,
        "remission_rate": 1 / 3,
    }


def test_clinic_rates_of_nobody():
    rates = clinic_rates([])
    assert (rates.n, rates.response_rate, rates.remission_rate, rates.instrument) == (
        0,
        None,
        None,
        None,
    )


def test_clinic_rates_refuse_mixed_instruments():
    with pytest.raises(ValueError, match="one instrument"):
        clinic_rates(
            [
                summarize(PHQ9, ALICE, FIRST_INFUSION),
                summarize(GAD7, [(at(9), 10), (at(20), 4)], FIRST_INFUSION),
            ]
        )


# --- laws -----------------------------------------------------------------------------

course = st.lists(
    st.tuples(st.integers(0, 60 * 24 * 40), st.integers(0, 27)), min_size=1, max_size=12
).map(lambda pts: [(at(1) + timedelta(minutes=m), total) for m, total in pts])


@given(scores=course, treat_after=st.none() | st.integers(0, 60 * 24 * 40))
def test_summary_laws(scores, treat_after):
    first = None if treat_after is None else at(1) + timedelta(minutes=treat_after)
    summary = summarize(PHQ9, scores, first)
    assert summary.count == len(scores)
    if summary.has_follow_up:
        assert summary.change == summary.latest.total - summary.baseline.total
    else:
        assert summary.change is None and summary.percent_change is None
    if len(scores) == 1:
        assert summary.change is None
    assert summary.latest.at == max(t for t, _ in scores)
    if first is not None and any(t <= first for t, _ in scores):
        assert summary.baseline.at == max(t for t, _ in scores if t <= first)
        assert summary.baseline_before_treatment is True
    else:
        assert summary.baseline.at == min(t for t, _ in scores)
        assert summary.baseline_before_treatment is (first is None)
    if not summary.baseline_before_treatment:
        assert (summary.response, summary.remission) == (None, None)
    if summary.response is not None:
        assert summary.response is (2 * summary.latest.total <= summary.baseline.total)
    if summary.remission is not None:
        assert summary.remission is (summary.latest.total < 5)
    if summary.time_to_first_response_days is not None:
        assert summary.time_to_first_response_days >= 0
        assert first is not None
