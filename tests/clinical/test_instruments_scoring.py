"""Scoring worked examples: exact totals, bands, subscores, alerts and answer errors."""

from __future__ import annotations

import pytest

from ketaclinic.clinical.instruments import Alert, AnswerError, load_instruments, score

INSTRUMENTS = load_instruments()
PHQ9, GAD7, PCL5, QIDS, MADRS = (
    INSTRUMENTS["phq9"],
    INSTRUMENTS["gad7"],
    INSTRUMENTS["pcl5"],
    INSTRUMENTS["qids_sr16"],
    INSTRUMENTS["madrs"],
)
CSSRS, PAIN, MOAAS, CADSS6 = (
    INSTRUMENTS["cssrs_screen"],
    INSTRUMENTS["pain_nrs"],
    INSTRUMENTS["moaas"],
    INSTRUMENTS["cadss6"],
)
URGENT_SUICIDALITY = PHQ9.alerts[0]


def levels(result):
    return [(a.code, a.level) for a in result.alerts]


# --- PHQ-9 -----------------------------------------------------------------------


def test_phq9_all_ones_is_9_mild_with_an_urgent_alert_from_item_9():
    result = score(PHQ9, [1] * 9)
    assert (result.total, result.severity, result.severity_label) == (9, "mild", "Mild")
    assert levels(result) == [("suicidality", "urgent")]
    assert result.complete and not result.prorated
    assert result.instrument == "phq9" and result.version == 1


def test_phq9_item_9_alone_is_1_minimal_and_still_urgent():
    result = score(PHQ9, [0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert (result.total, result.severity) == (1, "minimal")
    assert result.alerts == (Alert("suicidality", "urgent", URGENT_SUICIDALITY.message),)


def test_phq9_without_item_9_raises_no_alert():
    result = score(PHQ9, [3, 3, 3, 3, 3, 3, 3, 3, 0])
    assert (result.total, result.severity, result.alerts) == (24, "severe", ())


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_band_edges(total, band):
    answers = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    answers = [0] * (9 - len(answers)) + answers[::-1]  # put the 3s last: item 9 may alert
    assert sum(answers) == total
    assert score(PHQ9, answers).severity == band


def test_phq9_prorates_two_missing_items_by_the_mean():
    # answered: 2x6 + 0x1 + 2x1 = 14 over 7 items; 14/7 * 9 = 18 -> moderately severe
    result = score(PHQ9, [2, 2, 2, 2, 2, 2, None, None, 2])
    assert (result.total, result.severity) == (18, "moderately_severe")
    assert result.prorated and result.complete
    assert result.missing_items == (7, 8)


def test_phq9_prorating_rounds_a_half_up_not_to_even():
    # 4 over 8 answered items: 4/8 * 9 = 4.5 -> 5 (mild); round() would give 4 (minimal)
    result = score(PHQ9, [1, 1, 1, 1, 0, 0, 0, 0, None])
    assert (result.total, result.severity, result.prorated) == (5, "mild", True)
    # 20/8 * 9 = 22.5 -> 23 (round() would give 22)
    assert score(PHQ9, [3, 3, 3, 3, 3, 3, 2, 0, None]).total == 23


def test_phq9_prorating_rounds_below_a_half_down():
    # 10/7 * 9 = 12.857 -> 13 ; 3/7 * 9 = 3.857 -> 4 ; 1/8 * 9 = 1.125 -> 1
    assert score(PHQ9, [2, 2, 2, 2, 2, 0, None, None, 0]).total == 13
    assert score(PHQ9, [1, 1, 1, 0, 0, 0, None, None, 0]).total == 4
    assert score(PHQ9, [1, 0, 0, 0, 0, 0, 0, None, 0]).total == 1


def test_phq9_with_three_missing_is_incomplete_but_item_9_still_alerts():
    result = score(PHQ9, [None, None, None, 0, 0, 0, 0, 0, 2])
    assert (result.total, result.severity, result.severity_label) == (None, None, None)
    assert not result.complete and not result.prorated
    assert result.missing_items == (1, 2, 3)
    assert levels(result) == [("suicidality", "urgent")]


def test_phq9_with_item_9_skipped_is_prorated_but_opens_a_high_alert():
    # Eight 3s and item 9 blank: prorated to 27 as DOMAIN.md §6.1 says, but the
    # suicidality question went unanswered, and that must reach a person.
    result = score(PHQ9, [3, 3, 3, 3, 3, 3, 3, 3, None])
    assert (result.total, result.severity, result.prorated) == (27, "severe", True)
    assert result.missing_items == (9,)
    assert levels(result) == [("suicidality_unanswered", "high")]
    assert "ask the patient directly" in result.alerts[0].message


def test_phq9_incomplete_with_item_9_skipped_still_alerts():
    result = score(PHQ9, [None, None, None, 3, 3, 3, 3, 3, None])
    assert result.total is None
    assert levels(result) == [("suicidality_unanswered", "high")]


def test_phq9_with_another_item_skipped_raises_no_alert():
    result = score(PHQ9, [None, 3, 3, 3, 3, 3, 3, 3, 0])
    assert (result.total, result.alerts) == (24, ())


def test_phq9_all_skipped_is_incomplete():
    result = score(PHQ9, [None] * 9)
    assert (result.total, result.complete, result.missing_items) == (
        None,
        False,
        tuple(range(1, 10)),
    )


def test_score_to_dict_is_plain_data():
    assert score(PHQ9, [1, 1, 1, 1, 1, 1, 1, None, 0]).to_dict() == {
        "instrument": "phq9",
        "version": 1,
        "total": 8,  # 7/8 * 9 = 7.875 -> 8
        "severity": "mild",
        "severity_label": "Mild",
        "subscores": {},
        "alerts": [],
        "complete": True,
        "prorated": True,
        "missing_items": [8],
        "provisional_diagnosis": None,
        "above_cutoff": None,
    }


# --- answer errors ---------------------------------------------------------------


def test_it_refuses_an_answer_outside_the_options():
    with pytest.raises(AnswerError) as err:
        score(PHQ9, [0, 0, 0, 5, 0, 0, 0, 0, 0])
    assert err.value.item == 4
    assert err.value.message == "item 4: 5 is not one of the allowed answers 0, 1, 2, 3"
    assert str(err.value) == err.value.message
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("bad", "shown"), [(True, "true"), (False, "false"), (-1, "-1"), (1.0, "1.0"), ("1", "'1'")]
)
def test_it_refuses_a_non_integer_on_a_numeric_item(bad, shown):
    with pytest.raises(AnswerError) as err:
        score(GAD7, [0, bad, 0, 0, 0, 0, 0])
    assert err.value.item == 2
    assert err.value.message == f"item 2: {shown} is not one of the allowed answers 0, 1, 2, 3"


@pytest.mark.parametrize("count", [0, 8, 10])
def test_it_refuses_the_wrong_number_of_answers(count):
    with pytest.raises(AnswerError) as err:
        score(PHQ9, [0] * count)
    assert err.value.item == "answers"
    assert err.value.message == f"answers: expected 9 answers, got {count}"


def test_it_refuses_answers_that_are_not_a_list():
    with pytest.raises(AnswerError) as err:
        score(PAIN, "7")  # type: ignore[arg-type]
    assert err.value.item == "answers"


def test_it_refuses_a_skip_where_none_is_allowed():
    with pytest.raises(AnswerError) as err:
        score(GAD7, [0, 0, None, 0, 0, 0, 0])
    assert err.value.item == 3
    assert err.value.message == "item 3: an answer is required (gad7 does not allow skipped items)"


# --- GAD-7, MADRS, single items, CADSS-6 --------------------------------------------


def test_gad7_examples():
    assert (
        score(GAD7, [3, 3, 3, 3, 3, 0, 0]).total,
        score(GAD7, [3, 3, 3, 3, 3, 0, 0]).severity,
    ) == (
        15,
        "severe",
    )
    assert score(GAD7, [2, 2, 2, 2, 2, 0, 0]).severity == "moderate"
    assert score(GAD7, [1, 1, 1, 1, 0, 0, 0]).severity == "minimal"
    assert score(GAD7, [0] * 7).alerts == ()


@pytest.mark.parametrize(
    ("answers", "total", "band"),
    [
        ([0] * 10, 0, "normal"),
        ([6, 0, 0, 0, 0, 0, 0, 0, 0, 0], 6, "normal"),
        ([6, 1, 0, 0, 0, 0, 0, 0, 0, 0], 7, "mild"),
        ([2] * 10, 20, "moderate"),
        ([4, 4, 4, 4, 4, 4, 4, 4, 2, 0], 34, "moderate"),
        ([4, 4, 4, 4, 4, 4, 4, 4, 3, 0], 35, "severe"),
        ([6] * 10, 60, "severe"),
    ],
)
def test_madrs_examples(answers, total, band):
    result = score(MADRS, answers)
    assert (result.total, result.severity) == (total, band)


def test_madrs_refuses_7():
    with pytest.raises(
        AnswerError, match="item 10: 7 is not one of the allowed answers 0, 1, 2, 3, 4, 5, 6"
    ):
        score(MADRS, [0] * 9 + [7])


def test_pain_nrs_is_the_value():
    result = score(PAIN, [7])
    assert (result.total, result.severity, result.subscores) == (7, None, {})
    with pytest.raises(AnswerError, match="item 1: 11 is not one"):
        score(PAIN, [11])


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "moderate_or_deeper_sedation"),
        (3, "moderate_or_deeper_sedation"),
        (4, "mild_sedation"),
        (5, "alert"),
    ],
)
def test_moaas_bands(value, band):
    result = score(MOAAS, [value])
    assert (result.total, result.severity) == (value, band)


def test_cadss6_sums_six_items():
    assert score(CADSS6, [1, 0, 2, 0, 0, 3]).total == 6
    assert score(CADSS6, [4] * 6).total == 24
    assert score(CADSS6, [0] * 6).severity is None


# --- QIDS-SR16 ---------------------------------------------------------------------


def test_qids_scores_nine_domains_taking_the_highest_item_where_grouped():
    answers = [1, 3, 0, 2, 2, 0, 1, 3, 0, 1, 2, 1, 0, 3, 1, 2]
    result = score(QIDS, answers)
    assert result.subscores == {
        "sleep": 3,  # max(1, 3, 0, 2)
        "sad_mood": 2,
        "appetite_weight": 3,  # max(0, 1, 3, 0)
        "concentration": 1,
        "view_of_self": 2,
        "suicidal_ideation": 1,
        "interest": 0,
        "energy": 3,
        "psychomotor": 2,  # max(1, 2)
    }
    assert (result.total, result.severity) == (17, "severe")
    assert sum(answers) == 22  # a plain sum would be wrong
    assert result.alerts == ()


def test_qids_item_12_at_2_raises_a_high_suicidality_alert():
    answers = [0] * 16
    answers[11] = 2
    result = score(QIDS, answers)
    assert (result.total, result.severity) == (2, "none")
    assert levels(result) == [("suicidality", "high")]
    answers[11] = 1
    assert score(QIDS, answers).alerts == ()


@pytest.mark.parametrize(
    ("value", "total", "band"),
    [(0, 0, "none"), (1, 9, "mild"), (2, 18, "severe"), (3, 27, "very_severe")],
)
def test_qids_uniform_answers_count_each_domain_once(value, total, band):
    result = score(QIDS, [value] * 16)
    assert (result.total, result.severity) == (total, band)


def test_qids_takes_either_appetite_item_and_either_weight_item():
    """The QIDS-SR16 form asks for item 6 or 7 and item 8 or 9 (not both) [Rush et al. 2003]."""
    answers = [1, 0, 0, 0, 1, 2, None, None, 1, 1, 1, 0, 1, 1, 0, 2]
    result = score(QIDS, answers)
    assert result.subscores["appetite_weight"] == 2  # max(6=2, 9=1); 7 and 8 left blank
    assert (result.total, result.severity) == (10, "mild")
    assert result.complete and result.missing_items == () and not result.prorated


def test_qids_with_both_alternatives_answered_takes_the_higher():
    answers = [0] * 16
    answers[5], answers[6], answers[7], answers[8] = 1, 3, 0, 2  # items 6-9
    assert score(QIDS, answers).subscores["appetite_weight"] == 3


@pytest.mark.parametrize(
    ("blank", "item", "message"),
    [
        ((6, 7), 6, "item 6: answer item 6 or item 7"),
        ((8, 9), 8, "item 8: answer item 8 or item 9"),
        ((5,), 5, "item 5: an answer is required"),
        ((16,), 16, "item 16: an answer is required"),
    ],
)
def test_qids_refuses_a_blank_that_is_not_an_alternative(blank, item, message):
    answers: list[int | None] = [1] * 16
    for n in blank:
        answers[n - 1] = None
    with pytest.raises(AnswerError) as raised:
        score(QIDS, answers)
    assert raised.value.item == item
    assert raised.value.message.startswith(message)


# --- PCL-5 -------------------------------------------------------------------------


def test_pcl5_all_twos_meets_both_provisional_rules():
    result = score(PCL5, [2] * 20)
    assert result.total == 40
    assert result.subscores == {"B": 10, "C": 4, "D": 14, "E": 12}
    assert (result.provisional_diagnosis, result.above_cutoff) == (True, True)
    assert result.severity is None


def test_pcl5_dsm5_rule_can_be_met_below_the_cutoff():
    answers = [0] * 20
    for item in (1, 6, 8, 9, 15, 16):  # 1 B, 1 C, 2 D, 2 E, each "Moderately"
        answers[item - 1] = 2
    result = score(PCL5, answers)
    assert result.total == 12
    assert result.subscores == {"B": 2, "C": 2, "D": 4, "E": 4}
    assert (result.provisional_diagnosis, result.above_cutoff) == (True, False)


def test_pcl5_dsm5_rule_fails_with_only_one_d_item_endorsed():
    answers = [0] * 20
    for item in (1, 6, 8, 15, 16):
        answers[item - 1] = 4
    answers[9 - 1] = 1  # a second D item, but below "Moderately"
    result = score(PCL5, answers)
    assert result.provisional_diagnosis is False


def test_pcl5_dsm5_rule_fails_without_a_c_item():
    answers = [4] * 20
    answers[5] = answers[6] = 1
    result = score(PCL5, answers)
    assert (result.total, result.subscores["C"]) == (74, 2)
    assert (result.provisional_diagnosis, result.above_cutoff) == (False, True)


def test_pcl5_cutoff_is_at_or_above_33():
    at_33 = [2] * 16 + [1] + [0] * 3
    at_32 = [2] * 16 + [0] * 4
    assert score(PCL5, at_33).total == 33 and score(PCL5, at_33).above_cutoff is True
    assert score(PCL5, at_32).total == 32 and score(PCL5, at_32).above_cutoff is False


def test_pcl5_all_ones_meets_neither_rule():
    result = score(PCL5, [1] * 20)
    assert (result.total, result.provisional_diagnosis, result.above_cutoff) == (20, False, False)


# --- C-SSRS screener -----------------------------------------------------------------

N = None
T, F = True, False


@pytest.mark.parametrize(
    ("answers", "risk", "alerts"),
    [
        ([F, F, N, N, N, F, N], "none", []),
        ([T, F, N, N, N, F, N], "low", []),
        ([F, T, F, F, F, F, N], "low", []),
        ([T, T, F, F, F, F, N], "low", []),
        ([T, T, T, F, F, F, N], "moderate", [("suicidality", "high")]),
        ([F, F, N, N, N, T, F], "moderate", [("suicidality", "high")]),
        ([T, T, F, T, F, F, N], "high", [("suicidality", "urgent")]),
        ([T, T, F, F, T, F, N], "high", [("suicidality", "urgent")]),
        ([F, F, N, N, N, T, T], "high", [("suicidality", "urgent")]),
        ([T, T, T, T, T, T, T], "high", [("suicidality", "urgent")]),
        ([T, T, T, F, F, T, F], "moderate", [("suicidality", "high")]),
    ],
)
def test_cssrs_risk_levels(answers, risk, alerts):
    result = score(CSSRS, answers)
    assert result.severity == risk
    assert result.total is None
    assert result.complete is True
    assert levels(result) == alerts


def test_cssrs_labels():
    assert score(CSSRS, [F, F, N, N, N, T, T]).severity_label == "High risk"


@pytest.mark.parametrize(
    ("answers", "item", "message"),
    [
        ([F, F, F, N, N, F, N], 3, "item 3: must be skipped (null) because item 2 is false"),
        ([F, F, N, N, T, F, N], 5, "item 5: must be skipped (null) because item 2 is false"),
        (
            [F, T, F, N, F, F, N],
            4,
            "item 4: an answer is required because item 2 is true",
        ),
        (
            [F, T, N, N, N, F, N],
            3,
            "item 3: an answer is required because item 2 is true",
        ),
        ([F, F, N, N, N, F, F], 7, "item 7: must be skipped (null) because item 6 is false"),
        (
            [F, F, N, N, N, T, N],
            7,
            "item 7: an answer is required because item 6 is true",
        ),
        ([F, F, N, N, N, N, N], 6, "item 6: an answer is required"),
        ([N, F, N, N, N, F, N], 1, "item 1: an answer is required"),
        ([F, N, N, N, N, F, N], 2, "item 2: an answer is required"),
        ([1, F, N, N, N, F, N], 1, "item 1: 1 is not one of the allowed answers false, true"),
        ([F, F, N, N, N, 0, N], 6, "item 6: 0 is not one of the allowed answers false, true"),
    ],
)
def test_cssrs_skip_logic_errors(answers, item, message):
    with pytest.raises(AnswerError) as err:
        score(CSSRS, answers)
    assert (err.value.item, err.value.message) == (item, message)


def test_cssrs_needs_seven_answers():
    with pytest.raises(AnswerError) as err:
        score(CSSRS, [F, F, N, N, N, F])
    assert (err.value.item, err.value.message) == ("answers", "answers: expected 7 answers, got 6")
