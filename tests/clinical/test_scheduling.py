"""The pure booking checks and the series planner (no database)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.protocols import load_protocols
from ketaclinic.clinical.scheduling import (
    Floor,
    Preferences,
    SeriesRule,
    Span,
    plan_series,
    series_rule,
    slot_conflicts,
    spans_for_days,
)

TZ = ZoneInfo("America/New_York")
MONDAY = date(2027, 3, 1)  # a Monday; DST starts Sunday 2027-03-14 in New York
WEEKDAYS_8_18 = {d: [(time(8), time(18))] for d in range(5)}
PROTOCOLS = load_protocols()


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TZ)


def floor(chairs=(1, 2), nurses=1, capacity=2, days=60, **kw) -> Floor:
    shifts = (
        spans_for_days([MONDAY + timedelta(days=i) for i in range(days)], TZ, WEEKDAYS_8_18)
        * nurses
    )
    return Floor.build(
        tz=TZ,
        opening=WEEKDAYS_8_18,
        chairs=chairs,
        nurse_shifts=shifts,
        nurse_capacity=capacity,
        **kw,
    )


IV = series_rule(PROTOCOLS["ketamine-iv-mood"])


def test_series_rules_come_from_the_protocols():
    assert IV == SeriesRule(
        sessions=6, chair_minutes=100, min_hours=Decimal(48), max_per_week=3, span_days=21
    )
    esk = series_rule(PROTOCOLS["esketamine-nasal"])
    assert (esk.sessions, esk.chair_minutes, esk.min_hours, esk.max_per_week, esk.span_days) == (
        8,
        150,
        None,
        2,
        28,
    )
    assert "no minimum interval in the protocol: at most one session a day" in esk.notes
    pain = series_rule(PROTOCOLS["ketamine-iv-pain"])
    assert (pain.sessions, pain.chair_minutes, pain.max_per_week) == (10, 300, 7)


def test_opening_hours_stay_local_across_daylight_saving():
    before, after = spans_for_days([date(2027, 3, 12), date(2027, 3, 15)], TZ, WEEKDAYS_8_18)
    assert before.start.utcoffset() == timedelta(hours=-5)
    assert after.start.utcoffset() == timedelta(hours=-4)
    assert (before.start.hour, after.start.hour) == (8, 8)


def test_each_check_reports_its_own_reason():
    f = floor(
        chairs=(1,),
        busy={1: [Span(at(MONDAY, 9), at(MONDAY, 10))]},
        treatments=[Span(at(MONDAY, 9), at(MONDAY, 10))],
    )
    span = Span(at(MONDAY, 9, 30), at(MONDAY, 11, 10))
    assert [c.code for c in slot_conflicts(f, room=1, span=span, treatment=True)] == ["room_taken"]
    assert [
        c.code for c in slot_conflicts(f, room=2, span=span, treatment=True, patient_busy=[span])
    ] == ["patient_busy"]
    late = Span(at(MONDAY, 17), at(MONDAY, 18, 40))
    assert [c.code for c in slot_conflicts(f, room=2, span=late, treatment=True)] == [
        "clinic_closed",
        "nurse_capacity",
    ]
    spaced = slot_conflicts(
        f,
        room=2,
        span=Span(at(MONDAY, 12), at(MONDAY, 13, 40)),
        treatment=True,
        rule=IV,
        course_starts=[at(MONDAY, 12) - timedelta(hours=47)],
        course_anchor=MONDAY,
    )
    assert [c.code for c in spaced] == ["spacing"]


def test_nurse_capacity_counts_the_peak_not_every_overlap():
    # Two treatments that do not overlap each other both overlap a long third one: peak is 2 + 1.
    f = floor(
        chairs=(1, 2, 3),
        treatments=[Span(at(MONDAY, 9), at(MONDAY, 10)), Span(at(MONDAY, 10), at(MONDAY, 11))],
    )
    needed, available = f.nurse_room(Span(at(MONDAY, 9), at(MONDAY, 11)))
    assert (needed, available) == (2, 2)


def test_it_plans_six_iv_infusions_48_hours_apart_inside_21_days():
    plan = plan_series(floor(), rule=IV, prefs=Preferences(), start_date=MONDAY)
    starts = [s.start for s in plan.sessions]
    assert starts == [at(MONDAY + timedelta(days=d), 8) for d in (0, 2, 4, 7, 9, 11)]
    assert [s.index for s in plan.sessions] == [1, 2, 3, 4, 5, 6]
    assert plan.unplaced == 0 and plan.placed_in_window == 6
    assert {s.room for s in plan.sessions} == {1}  # the same chair each time


def test_it_honours_weekday_and_time_preferences():
    prefs = Preferences(weekdays=frozenset({1, 3}), earliest=time(13), latest_start=time(15))
    plan = plan_series(floor(), rule=IV, prefs=prefs, start_date=MONDAY)
    assert all(
        s.start.weekday() in (1, 3) and time(13) <= s.start.astimezone(TZ).time() <= time(15)
        for s in plan.sessions
    )
    # Tue/Thu only: two a week, so six need three weeks: the last one is day 17 (inside 21).
    assert plan.sessions[-1].start.date() == MONDAY + timedelta(days=17)
    assert plan.placed_in_window == 6


def test_it_works_around_taken_chairs_and_does_not_occupy_the_floor():
    busy = {1: [Span(at(MONDAY, 8), at(MONDAY, 12))], 2: [Span(at(MONDAY, 8), at(MONDAY, 10))]}
    f = floor(busy=busy)
    plan = plan_series(f, rule=IV, prefs=Preferences(), start_date=MONDAY)
    assert (plan.sessions[0].start, plan.sessions[0].room) == (at(MONDAY, 10), 2)
    assert len(f.busy[2].spans) == 1 and f.treatments.spans == []  # a proposal holds nothing


def test_kept_sessions_count_toward_the_total_and_the_spacing():
    kept = [at(MONDAY, 9), at(MONDAY + timedelta(days=2), 9)]
    plan = plan_series(floor(), rule=IV, prefs=Preferences(), start_date=MONDAY, kept_starts=kept)
    assert len(plan.sessions) == 4
    assert plan.sessions[0].start >= kept[-1] + timedelta(hours=48)
    assert [s.index for s in plan.sessions] == [3, 4, 5, 6]


def test_esketamine_is_planned_twice_a_week_for_four_weeks():
    esk = series_rule(PROTOCOLS["esketamine-nasal"])
    plan = plan_series(floor(), rule=esk, prefs=Preferences(), start_date=MONDAY)
    weeks = [(s.start.date() - MONDAY).days // 7 for s in plan.sessions]
    assert weeks == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len({s.start.date() for s in plan.sessions}) == 8


def test_a_full_floor_leaves_sessions_outside_the_window_or_unplaced():
    plan = plan_series(floor(chairs=()), rule=IV, prefs=Preferences(), start_date=MONDAY)
    assert plan.sessions == () and plan.unplaced == 6


@settings(max_examples=40, deadline=None)
@given(
    weekdays=st.frozensets(st.integers(0, 4), min_size=1),
    earliest=st.integers(8, 14),
    busy_hours=st.lists(
        st.tuples(st.integers(0, 20), st.integers(8, 16), st.integers(1, 2)), max_size=15
    ),
)
def test_every_planned_session_passes_every_booking_check(weekdays, earliest, busy_hours):
    busy = {}
    for day, hour, room in busy_hours:
        d = MONDAY + timedelta(days=day)
        busy.setdefault(room, []).append(Span(at(d, hour), at(d, hour + 1)))
    f = floor(busy=busy, treatments=[s for spans in busy.values() for s in spans])
    prefs = Preferences(weekdays=weekdays, earliest=time(earliest), latest_start=time(16))
    plan = plan_series(f, rule=IV, prefs=prefs, start_date=MONDAY)
    placed: list[datetime] = []
    for s in plan.sessions:
        span = Span(s.start, s.end)
        assert (
            slot_conflicts(
                f,
                room=s.room,
                span=span,
                treatment=True,
                rule=IV,
                course_starts=placed,
                course_anchor=MONDAY,
            )
            == []
        )
        assert s.start.weekday() in weekdays
        f.hold(s.room, span, treatment=True)
        placed.append(s.start)
    assert len(plan.sessions) + plan.unplaced == 6
