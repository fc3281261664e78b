"""Laws every instrument's scoring obeys, checked with generated answers."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ketaclinic.clinical.instruments import Instrument, load_instruments, score

INSTRUMENTS = load_instruments()
NUMERIC = sorted(code for code, i in INSTRUMENTS.items() if i.scoring.kind != "risk_level")
CSSRS = INSTRUMENTS["cssrs_screen"]
PHQ9 = INSTRUMENTS["phq9"]


def full_answers(inst: Instrument) -> st.SearchStrategy[list[int]]:
    return st.tuples(
        *(st.sampled_from([int(v) for v in i.allowed_values]) for i in inst.items)
    ).map(list)


def band_by_hand(inst: Instrument, total: int) -> str | None:
    matches = [b.code for b in inst.severity_bands if b.min <= total <= b.max]
    assert len(matches) <= 1
    return matches[0] if matches else None


def test_every_numeric_instrument_is_covered():
    assert NUMERIC == ["cadss6", "gad7", "madrs", "moaas", "pain_nrs", "pcl5", "phq9", "qids_sr16"]


@pytest.mark.parametrize("code", NUMERIC)
@given(data=st.data())
def test_total_stays_in_range_and_matches_its_band(code, data):
    inst = INSTRUMENTS[code]
    answers = data.draw(full_answers(inst))
    result = score(inst, answers)
    low, high = inst.score_range()
    assert result.total is not None and low <= result.total <= high
    assert result.severity == band_by_hand(inst, result.total)
    assert result.complete and not result.prorated
    if inst.severity_bands:
        assert result.severity is not None


@pytest.mark.parametrize("code", NUMERIC)
@given(data=st.data())
def test_raising_one_item_never_lowers_the_total(code, data):
    inst = INSTRUMENTS[code]
    answers = data.draw(full_answers(inst))
    index = data.draw(st.integers(0, len(inst.items) - 1))
    higher = [int(v) for v in inst.items[index].allowed_values if int(v) > answers[index]]
    assume(higher)
    raised = list(answers)
    raised[index] = data.draw(st.sampled_from(higher))
    before, after = score(inst, answers), score(inst, raised)
    assert after.total is not None and before.total is not None
    assert after.total >= before.total
    codes = inst.severity_codes()
    if before.severity is not None and after.severity is not None:
        assert codes.index(after.severity) >= codes.index(before.severity)


@pytest.mark.parametrize("code", ["phq9", "gad7", "madrs", "pcl5", "cadss6", "pain_nrs", "moaas"])
@given(data=st.data())
def test_a_plain_sum_is_the_sum_of_the_answers(code, data):
    inst = INSTRUMENTS[code]
    answers = data.draw(full_answers(inst))
    assert score(inst, answers).total == sum(answers)


@given(answers=full_answers(INSTRUMENTS["qids_sr16"]))
def test_qids_total_is_the_sum_of_domain_maxima(answers):
    result = score(INSTRUMENTS["qids_sr16"], answers)
    a = [0, *answers]  # 1-based
    expected = (
        max(a[1:5]) + a[5] + max(a[6:10]) + a[10] + a[11] + a[12] + a[13] + a[14] + max(a[15:17])
    )
    assert result.total == expected == sum(result.subscores.values())
    assert result.total <= sum(answers)


@given(answers=full_answers(INSTRUMENTS["pcl5"]))
def test_pcl5_clusters_add_up_and_the_dsm5_rule_is_exact(answers):
    result = score(INSTRUMENTS["pcl5"], answers)
    assert sum(result.subscores.values()) == result.total
    endorsed = [n for n, v in enumerate(answers, start=1) if v >= 2]
    by_hand = (
        sum(1 for n in endorsed if 1 <= n <= 5) >= 1
        and sum(1 for n in endorsed if 6 <= n <= 7) >= 1
        and sum(1 for n in endorsed if 8 <= n <= 14) >= 2
        and sum(1 for n in endorsed if 15 <= n <= 20) >= 2
    )
    assert result.provisional_diagnosis is by_hand
    assert result.above_cutoff is (sum(answers) >= 33)


@given(
    answers=full_answers(INSTRUMENTS["qids_sr16"]),
    blank=st.tuples(st.sampled_from([6, 7, None]), st.sampled_from([8, 9, None])),
)
def test_qids_a_blank_alternative_scores_as_the_highest_answered_item(answers, blank):
    given_answers: list[int | None] = list(answers)
    for n in blank:
        if n is not None:
            given_answers[n - 1] = None
    result = score(INSTRUMENTS["qids_sr16"], given_answers)
    answered = [given_answers[n - 1] for n in (6, 7, 8, 9)]
    assert result.subscores["appetite_weight"] == max(v for v in answered if v is not None)
    assert result.complete and result.total is not None and 0 <= result.total <= 27
    # Leaving an alternative blank never raises the total.
    assert result.total <= score(INSTRUMENTS["qids_sr16"], answers).total


@given(answers=full_answers(INSTRUMENTS["qids_sr16"]))
def test_qids_alerts_exactly_when_item_12_is_2_or_more(answers):
    result = score(INSTRUMENTS["qids_sr16"], answers)
    assert [(a.code, a.level) for a in result.alerts] == (
        [("suicidality", "high")] if answers[11] >= 2 else []
    )


# --- PHQ-9 with skipped items -----------------------------------------------------


@st.composite
def phq9_with_skips(draw, max_missing: int = 9):
    answers: list[int | None] = draw(full_answers(PHQ9))
    missing = draw(st.sets(st.integers(0, 8), max_size=max_missing))
    for index in missing:
        answers[index] = None
    return answers


# Worked by hand, not with the scoring code's formula: the skipped items count as the
# mean of the answered ones (9 x mean), and an exact half rounds up (DOMAIN.md §6.1).
PRORATED_BY_HAND = [
    # eight answered items summing to 16, one missing: 16 / 8 x 9 = 18
    ([2, 2, 2, 2, 2, 2, 2, 2, None], 18),
    ([3, 3, 1, 1, 2, 2, 2, None, 2], 18),
    # ties: 4 / 8 x 9 = 4.5 -> 5 ; 12 / 8 x 9 = 13.5 -> 14 ; 20 / 8 x 9 = 22.5 -> 23
    ([1, 1, 1, 1, 0, 0, 0, 0, None], 5),
    ([None, 3, 3, 3, 3, 0, 0, 0, 0], 14),
    ([3, 3, 3, 3, 3, 3, 2, 0, None], 23),
    # below a half: 9 / 8 = 1.125 -> 1 ; 27 / 7 = 3.857 -> 4 ; 12 / 7 x 9 = 15.43 -> 15
    ([1, 0, 0, 0, 0, 0, 0, 0, None], 1),
    ([3, 0, 0, None, 0, 0, 0, None, 0], 4),
    ([2, 2, 2, 2, 2, 1, None, None, 1], 15),
    # two missing of seven equal answers: exactly 9 x the answer
    ([1, 1, 1, 1, 1, 1, 1, None, None], 9),
    ([3, 3, None, 3, 3, 3, None, 3, 3], 27),
    ([0, 0, 0, 0, 0, 0, 0, None, None], 0),
    # three missing: no total
    ([None, None, None, 1, 1, 1, 1, 1, 1], None),
]


@pytest.mark.parametrize(("answers", "total"), PRORATED_BY_HAND)
def test_phq9_prorating_worked_examples(answers, total):
    result = score(PHQ9, answers)
    assert result.total == total
    assert result.prorated is (total is not None)
    assert result.missing_items == tuple(n for n, a in enumerate(answers, 1) if a is None)


@given(answers=phq9_with_skips())
def test_phq9_prorates_up_to_two_missing_and_stays_in_range(answers):
    result = score(PHQ9, answers)
    answered = [a for a in answers if a is not None]
    missing = 9 - len(answered)
    if missing > 2:
        assert (result.total, result.severity, result.complete) == (None, None, False)
        return
    assert result.complete and result.prorated is (missing > 0)
    # A skipped item counts as something between the lowest and highest answer given.
    assert sum(answered) + missing * min(answered) <= result.total
    assert result.total <= sum(answered) + missing * max(answered)
    assert 0 <= result.total <= 27
    assert result.severity == band_by_hand(PHQ9, result.total)


@given(answers=phq9_with_skips(max_missing=2), data=st.data())
def test_phq9_prorating_ignores_which_items_were_skipped(answers, data):
    # Only the answered values matter, not their positions (item 9's alert aside).
    shuffled = data.draw(st.permutations(answers))
    assert score(PHQ9, shuffled).total == score(PHQ9, answers).total


@st.composite
def phq9_with_an_item_at_the_mean(draw):
    """A full PHQ-9 where one item's answer equals the mean of all nine, and its index."""
    value = draw(st.integers(0, 3))
    others = [value] * 8
    # Move points between items: the sum (8 x value) stays, the spread varies.
    for _ in range(draw(st.integers(0, 20))):
        give, take = draw(st.integers(0, 7)), draw(st.integers(0, 7))
        if others[give] > 0 and others[take] < 3:
            others[give] -= 1
            others[take] += 1
    index = draw(st.integers(0, 8))
    return others[:index] + [value] + others[index:], index


@given(case=phq9_with_an_item_at_the_mean())
def test_skipping_an_item_answered_at_the_forms_mean_keeps_the_total(case):
    answers, index = case
    total = sum(answers)
    assert answers[index] * 9 == total
    skipped = list(answers)
    skipped[index] = None
    assert score(PHQ9, skipped).total == total


@given(answers=phq9_with_skips())
def test_phq9_item_9_alert_fires_whatever_the_total_or_missing_items(answers):
    result = score(PHQ9, answers)
    fired = [(a.code, a.level) for a in result.alerts]
    if answers[8] is None:
        # Skipped: never silent, even when prorating gives a full-looking total.
        assert fired == [("suicidality_unanswered", "high")]
    else:
        assert fired == ([("suicidality", "urgent")] if answers[8] > 0 else [])


@given(answers=phq9_with_skips(max_missing=2), data=st.data())
def test_phq9_raising_an_answered_item_never_lowers_a_prorated_total(answers, data):
    answered = [i for i, a in enumerate(answers) if a is not None and a < 3]
    assume(answered)
    index = data.draw(st.sampled_from(answered))
    raised = list(answers)
    raised[index] = data.draw(st.integers(answers[index] + 1, 3))
    assert score(PHQ9, raised).total >= score(PHQ9, answers).total


# --- C-SSRS -------------------------------------------------------------------------

RISK_ORDER = CSSRS.severity_codes()


@st.composite
def cssrs_answers(draw):
    q1, q2, q6 = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    q3_5 = [draw(st.booleans()) for _ in range(3)] if q2 else [None, None, None]
    q7 = draw(st.booleans()) if q6 else None
    return [q1, q2, *q3_5, q6, q7]


def risk_by_hand(a: list[bool | None]) -> str:
    if a[3] or a[4] or a[6]:
        return "high"
    if a[2] or a[5]:
        return "moderate"
    if a[0] or a[1]:
        return "low"
    return "none"


def raise_item(answers: list[bool | None], index: int) -> list[bool | None]:
    """Turn one "no" into "yes", answering newly opened questions "no"."""
    raised = list(answers)
    raised[index] = True
    if index == 1:
        raised[2:5] = [False, False, False]
    if index == 5:
        raised[6] = False
    return raised


@given(answers=cssrs_answers())
def test_cssrs_risk_follows_domain_md_6_2(answers):
    result = score(CSSRS, answers)
    assert result.severity == risk_by_hand(answers)
    assert result.total is None
    expected_alerts = {"high": [("suicidality", "urgent")], "moderate": [("suicidality", "high")]}
    assert [(a.code, a.level) for a in result.alerts] == expected_alerts.get(result.severity, [])


@given(answers=cssrs_answers(), data=st.data())
def test_cssrs_saying_yes_to_one_more_question_never_lowers_the_risk(answers, data):
    noes = [i for i, a in enumerate(answers) if a is False]
    assume(noes)
    index = data.draw(st.sampled_from(noes))
    before = score(CSSRS, answers).severity
    after = score(CSSRS, raise_item(answers, index)).severity
    assert RISK_ORDER.index(after) >= RISK_ORDER.index(before)


@given(answers=cssrs_answers(), index=st.integers(0, 6), value=st.sampled_from([True, False, None]))
def test_cssrs_any_answer_set_breaking_skip_logic_is_refused(answers, index, value):
    changed = list(answers)
    changed[index] = value
    valid = (
        changed[0] is not None
        and changed[1] is not None
        and changed[5] is not None
        and all((x is None) == (changed[1] is False) for x in changed[2:5])
        and (changed[6] is None) == (changed[5] is False)
    )
    if valid:
        assert score(CSSRS, changed).severity == risk_by_hand(changed)
    else:
        with pytest.raises(ValueError):
            score(CSSRS, changed)
