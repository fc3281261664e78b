"""Long-term monitoring and the patient's longer observation, as pure functions."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.longterm import (
    LIVER_ITEM,
    URINARY_ITEM,
    liver_status,
    long_term_items,
    longer_observation,
    with_observation_minutes,
)
from ketaclinic.clinical.monitoring import discharge_check, earliest_discharge_at
from ketaclinic.clinical.protocols import load_protocols
from ketaclinic.clinical.protocols.loader import ProtocolError, load_protocol_text

PROTOCOLS = load_protocols()
ESK = PROTOCOLS["esketamine-nasal"]
MDSI = PROTOCOLS["esketamine-nasal-mdsi"]
IV = PROTOCOLS["ketamine-iv-mood"]
START = date(2026, 1, 5)


@pytest.mark.parametrize("protocol", [ESK, MDSI], ids=lambda p: p.code)
def test_moderate_hepatic_impairment_asks_three_hours_of_esketamine_observation(protocol):
    longer = longer_observation(protocol, {"hepatic_impairment_moderate", "psychosis_history"})
    assert longer is not None
    assert (longer.minutes, longer.history) == (180, "hepatic_impairment_moderate")
    assert "SPRAVATO-LABEL" in longer.source and "policy" in longer.source


@pytest.mark.parametrize(
    "history", [set(), {"hepatic_impairment_severe"}, {"psychosis_history"}], ids=str
)
def test_other_histories_keep_the_two_hour_minimum(history):
    assert longer_observation(ESK, history) is None


def test_the_ketamine_protocols_set_no_longer_observation():
    assert longer_observation(IV, {"hepatic_impairment_moderate"}) is None


def test_the_longer_minimum_moves_the_earliest_discharge_and_keeps_the_file_hash():
    first = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    longer = with_observation_minutes(ESK, 180)
    assert longer.file_hash == ESK.file_hash and longer.version == ESK.version
    assert earliest_discharge_at(ESK, dose_started_at=first) == first + timedelta(minutes=120)
    assert earliest_discharge_at(longer, dose_started_at=first) == first + timedelta(minutes=180)
    assert ESK.discharge.observation.minimum_minutes == 120  # the shared protocol is untouched


def test_the_minimum_is_never_lowered():
    assert with_observation_minutes(ESK, 60) is ESK
    assert with_observation_minutes(ESK, None) is ESK


def test_at_150_minutes_the_observation_criterion_is_unmet_for_the_longer_minimum():
    first = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    now = first + timedelta(minutes=150)
    common = dict(
        first_dose_at=first,
        infusion_ended_at=None,
        dose_ended_at=first + timedelta(minutes=10),
        now=now,
        last_vitals=None,
        last_vitals_at=None,
        last_moaas=None,
        last_moaas_at=None,
        last_cadss6_at=None,
        dissociation_resolved=True,
        respiratory_depression=False,
        walks_steadily=True,
        escort_present=True,
    )
    codes = [u.code for u in discharge_check(ESK, **common)]
    longer = [u.code for u in discharge_check(with_observation_minutes(ESK, 180), **common)]
    assert "observation_time" not in codes
    assert "observation_time" in longer


def test_a_longer_observation_shorter_than_the_minimum_is_refused_at_load():
    data = json.loads(ESK.model_dump_json())
    data["discharge"]["observation"]["longer_when"][0]["minimum_minutes"] = 90
    with pytest.raises(ProtocolError, match="not longer"):
        load_protocol_text(json.dumps(data), origin="test")


def test_an_unknown_history_flag_is_refused_at_load():
    data = json.loads(ESK.model_dump_json())
    data["discharge"]["observation"]["longer_when"][0]["history"] = "liver_trouble"
    with pytest.raises(ProtocolError, match="unknown history flag"):
        load_protocol_text(json.dumps(data), origin="test")


# --- long-term monitoring -------------------------------------------------------------


def test_urinary_symptoms_are_asked_only_after_the_induction():
    assert [i.id for i in long_term_items(ESK, after_induction=False)] == []
    items = long_term_items(ESK, after_induction=True)
    assert [i.id for i in items] == [URINARY_ITEM]
    assert items[0].hard_stop is False and items[0].source == "SPRAVATO-LABEL"


def test_ketamine_courses_add_the_liver_test_item_at_every_session():
    assert [i.id for i in long_term_items(IV, after_induction=False)] == [LIVER_ITEM]
    assert [i.id for i in long_term_items(IV, after_induction=True)] == [URINARY_ITEM, LIVER_ITEM]


def test_liver_tests_are_due_90_days_after_the_course_start_when_none_on_record():
    status = liver_status(IV, last_test_on=None, course_start=START, today=START)
    assert status is not None
    assert (status.due, status.due_on, status.every_days) == (False, START + timedelta(90), 90)
    due = liver_status(IV, last_test_on=None, course_start=START, today=START + timedelta(90))
    assert due.due and due.days_overdue == 0
    assert due.text.startswith("Liver tests due")


def test_the_last_test_on_record_restarts_the_interval():
    last = START + timedelta(days=80)
    status = liver_status(IV, last_test_on=last, course_start=START, today=START + timedelta(100))
    assert (status.due, status.due_on) == (False, last + timedelta(90))
    assert "next due" in status.text


def test_esketamine_sets_no_liver_interval():
    assert liver_status(ESK, last_test_on=None, course_start=START, today=START) is None


@given(st.integers(min_value=0, max_value=2000), st.integers(min_value=0, max_value=400))
def test_due_exactly_when_the_interval_has_passed(days_since_test, _unused):
    today = START + timedelta(days=days_since_test)
    status = liver_status(IV, last_test_on=START, course_start=START, today=today)
    assert status.due == (days_since_test >= 90)
    assert status.days_overdue == max(days_since_test - 90, 0)
