"""The pure booking checks and the series planner (no database)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.protocols import load_protocols
from ketaclinic.clinical.scheduling import (
    LATE_DAYS,
    Floor,
    Preferences,
    SeriesRule,
    Span,
    plan_series,
    series_rule,
    slot_conflicts,
    spans_for_days,
    window_conflicts,
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
        Decimal(48),
        2,
        28,
    )
    pain = series_rule(PROTOCOLS["ketamine-iv-pain"])
    assert (pain.sessions, pain.chair_minutes, pain.max_per_week) == (10, 300, 7)
    # A protocol without a minimum interval: at most one session a day.
    assert pain.min_hours is None
    assert "no minimum interval in the protocol: at most one session a day" in pain.notes


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


# --- daylight saving, the course window, named nurses ---------------------------------------

EVERY_DAY_8_18 = {d: [(time(8), time(18))] for d in range(7)}
SATURDAY_BEFORE_DST = date(2027, 3, 13)  # clocks go forward at 02:00 on Sunday 14 March
MONDAY_AFTER_DST = date(2027, 3, 15)


def open_every_day(**kw) -> Floor:
    days = [MONDAY + timedelta(days=i) for i in range(60)]
    return Floor.build(
        tz=TZ,
        opening=EVERY_DAY_8_18,
        chairs=(1, 2),
        nurse_shifts=spans_for_days(days, TZ, EVERY_DAY_8_18),
        **kw,
    )


def test_spacing_counts_real_hours_across_the_daylight_saving_change():
    # Sat 10:00 EST to Mon 10:00 EDT reads 48 h on the clock but is 47 h of real time.
    before = at(SATURDAY_BEFORE_DST, 10)
    after = at(MONDAY_AFTER_DST, 10)
    assert after - before == timedelta(hours=48)  # Python's same-zone (wall-clock) difference
    found = slot_conflicts(
        open_every_day(),
        room=1,
        span=Span(after, after + timedelta(minutes=100)),
        treatment=True,
        rule=IV,
        course_starts=[before],
        course_anchor=SATURDAY_BEFORE_DST,
    )
    assert [(c.code, c.message) for c in found] == [
        (
            "spacing",
            "Sessions of this course must be at least 48 hours apart; another is 47.0 hours "
            "away (Sat 13 Mar 10:00).",
        )
    ]
    later = at(MONDAY_AFTER_DST, 11)  # 48 real hours
    assert (
        slot_conflicts(
            open_every_day(),
            room=1,
            span=Span(later, later + timedelta(minutes=100)),
            treatment=True,
            rule=IV,
            course_starts=[before],
            course_anchor=SATURDAY_BEFORE_DST,
        )
        == []
    )


def test_the_planner_keeps_48_real_hours_across_the_daylight_saving_change():
    prefs = Preferences(weekdays=frozenset(range(7)), earliest=time(10), latest_start=time(16))
    plan = plan_series(
        open_every_day(),
        rule=IV,
        prefs=prefs,
        start_date=SATURDAY_BEFORE_DST,
        kept_starts=[at(SATURDAY_BEFORE_DST, 10)],
    )
    assert plan.sessions[0].start == at(MONDAY_AFTER_DST, 11)


def test_a_session_must_fall_between_the_course_start_and_the_late_limit():
    # IV: a 21-day window from Monday 1 March (last day Sun 21 March), then 28 days late.
    assert LATE_DAYS == 28
    assert window_conflicts(at(MONDAY, 9), IV, MONDAY, TZ) == []
    last = MONDAY + timedelta(days=21 + 28 - 1)
    assert window_conflicts(at(last, 9), IV, MONDAY, TZ) == []
    [early] = window_conflicts(at(MONDAY - timedelta(days=1), 9), IV, MONDAY, TZ)
    assert (early.code, early.message) == (
        "course_window",
        "The course starts on Mon 01 Mar 2027; a session cannot be before it.",
    )
    [late] = window_conflicts(at(last + timedelta(days=1), 9), IV, MONDAY, TZ)
    assert (late.code, late.message) == (
        "course_window",
        "The protocol's window for this course ends on Sun 21 Mar 2027; a session may be at "
        "most 28 days after it (until Sun 18 Apr 2027, clinic policy).",
    )


def rota_floor(nurses=(7, 8), capacity=2, **kw) -> Floor:
    days = [MONDAY + timedelta(days=i) for i in range(60)]
    shifts = spans_for_days(days, TZ, WEEKDAYS_8_18)
    return Floor.build(
        tz=TZ,
        opening=WEEKDAYS_8_18,
        chairs=(1, 2, 3, 4, 5),
        nurse_capacity=capacity,
        rota={n: shifts for n in nurses},
        **kw,
    )


def test_a_free_nurse_is_under_capacity_on_shift_and_not_busy_for_the_whole_session():
    span = Span(at(MONDAY, 9), at(MONDAY, 10, 40))
    f = rota_floor(
        nurse_load={7: [Span(at(MONDAY, 9), at(MONDAY, 10))]},
        nurse_busy={8: [Span(at(MONDAY, 10), at(MONDAY, 11))]},  # a consultation
    )
    assert f.free_nurse(span) == 7  # nurse 8 has another appointment during it
    f.hold(1, Span(at(MONDAY, 9, 30), at(MONDAY, 11)), treatment=True, nurse=7)
    assert f.free_nurse(span) is None  # nurse 7 now has two patients at once
    # The least loaded nurse first; a preferred one when she is free.
    g = rota_floor(nurse_load={7: [Span(at(MONDAY, 9), at(MONDAY, 10))]})
    assert g.free_nurse(span) == 8
    assert g.free_nurse(span, prefer=7) == 7


def test_a_treatment_needs_one_nurse_free_for_all_of_it_not_only_enough_nurses_overall():
    # Each nurse has one patient for half the session: two places overall at every moment,
    # but neither nurse has room for a third patient for the whole session at capacity 1.
    first_half = Span(at(MONDAY, 9), at(MONDAY, 9, 50))
    second_half = Span(at(MONDAY, 9, 50), at(MONDAY, 10, 40))
    f = rota_floor(
        capacity=1,
        nurse_load={7: [first_half], 8: [second_half]},
        treatments=[first_half, second_half],
    )
    span = Span(at(MONDAY, 9), at(MONDAY, 10, 40))
    assert slot_conflicts(f, room=1, span=span, treatment=True) == []
    [conflict] = slot_conflicts(f, room=1, span=span, treatment=True, assign_nurse=True)
    assert conflict.code == "nurse_capacity"
    assert conflict.message.startswith("No nurse is free for the whole session")


def test_the_planner_names_a_nurse_for_each_session_and_keeps_the_same_one():
    plan = plan_series(rota_floor(), rule=IV, prefs=Preferences(), start_date=MONDAY)
    assert [s.nurse for s in plan.sessions] == [7] * 6


def test_the_planner_does_not_exceed_any_nurses_capacity():
    # One named nurse, capacity 2, five chairs: never more than two at once.
    f = rota_floor(nurses=(7,))
    prefs = Preferences(earliest=time(8), latest_start=time(8))
    placed = []
    for _ in range(3):
        plan = plan_series(f, rule=IV, prefs=prefs, start_date=MONDAY, hold=True)
        placed.append(plan)
    assert [p.unplaced for p in placed[:2]] == [0, 0]
    assert all(s.nurse == 7 for p in placed[:2] for s in p.sessions)
    # The third patient cannot start at 08:00 on any of those days: a later day or nothing.
    first_days = {s.start.date() for s in placed[0].sessions}
    assert not any(s.start.date() in first_days for s in placed[2].sessions)
