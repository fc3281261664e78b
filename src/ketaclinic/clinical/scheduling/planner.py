"""The greedy series planner: each session at the first slot passing every check. Pure.

See the package docstring for the heuristic and its limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from .floor import Floor, Span, _Timeline, spans_for_days
from .rules import LATE_DAYS, SeriesRule, _spacing_conflicts


@dataclass(frozen=True)
class Preferences:
    """The patient's preferred weekdays (Mon=0) and start times (local)."""

    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    earliest: time = time(8, 0)
    latest_start: time = time(17, 0)


@dataclass(frozen=True)
class PlannedSession:
    index: int  # 1-based position in the series (counting kept sessions)
    start: datetime
    end: datetime
    room: int
    in_window: bool
    nurse: int | None = None  # the named nurse who monitors it (None: nurses not named)


@dataclass(frozen=True)
class Plan:
    sessions: tuple[PlannedSession, ...]
    unplaced: int
    window_start: date
    window_end: date  # exclusive
    notes: tuple[str, ...] = ()

    @property
    def placed_in_window(self) -> int:
        return sum(1 for s in self.sessions if s.in_window)


def plan_series(
    floor: Floor,
    *,
    rule: SeriesRule,
    prefs: Preferences,
    start_date: date,
    patient_busy: Iterable[Span] = (),
    kept_starts: Sequence[datetime] = (),
    not_before: datetime | None = None,
    step_minutes: int = 15,
    extra_days: int = LATE_DAYS,
    hold: bool = False,
) -> Plan:
    """Propose the series' remaining sessions, earliest feasible slot first.

    ``kept_starts`` are sessions of the course that stay where they are: they count
    toward the session total, the spacing and the per-week maximum. With ``hold`` the
    placed sessions are marked on ``floor`` (the benchmark plans many patients in turn).
    """
    tz = floor.tz
    busy = _Timeline(patient_busy)
    starts = sorted(kept_starts)
    to_place = max(rule.sessions - len(starts), 0)
    window_end = start_date + timedelta(days=rule.span_days)
    horizon = window_end + timedelta(days=extra_days)
    duration = timedelta(minutes=rule.chair_minutes)
    step = timedelta(minutes=step_minutes)
    placed: list[PlannedSession] = []
    last_room: int | None = None
    last_nurse: int | None = None
    day = start_date
    if not_before is not None:
        day = max(day, not_before.astimezone(tz).date())
    for _ in range(to_place):
        found = None
        while found is None and day < horizon:
            found = _first_slot_on(
                floor,
                day,
                rule,
                prefs,
                busy,
                starts,
                start_date,
                duration,
                step,
                not_before,
                last_room,
                last_nurse,
            )
            if found is None:
                day += timedelta(days=1)
        if found is None:
            break
        span, room, nurse = found
        # Held at once so later sessions of this series see the earlier ones.
        floor.hold(room, span, treatment=True, nurse=nurse)
        busy.add(span)
        starts.append(span.start)
        starts.sort()
        last_room = room
        last_nurse = nurse if nurse is not None else last_nurse
        placed.append(
            PlannedSession(
                index=0,
                start=span.start,
                end=span.end,
                room=room,
                in_window=span.start.astimezone(tz).date() < window_end,
                nurse=nurse,
            )
        )
    if not hold:
        for session in placed:  # undo the overlay: a proposal does not occupy the floor
            floor.release(session.room, Span(session.start, session.end), nurse=session.nurse)
    all_starts = sorted([*kept_starts, *(s.start for s in placed)])
    numbered = tuple(
        PlannedSession(
            index=all_starts.index(s.start) + 1,
            start=s.start,
            end=s.end,
            room=s.room,
            in_window=s.in_window,
            nurse=s.nurse,
        )
        for s in placed
    )
    return Plan(
        sessions=numbered,
        unplaced=to_place - len(placed),
        window_start=start_date,
        window_end=window_end,
        notes=rule.notes,
    )


def _first_slot_on(
    floor: Floor,
    day: date,
    rule: SeriesRule,
    prefs: Preferences,
    busy: _Timeline,
    starts: Sequence[datetime],
    anchor: date,
    duration: timedelta,
    step: timedelta,
    not_before: datetime | None,
    last_room: int | None,
    last_nurse: int | None,
) -> tuple[Span, int, int | None] | None:
    """Return the first (span, room, nurse) on ``day`` that passes every check, or None."""
    if day.weekday() not in prefs.weekdays or day in floor.closed_days:
        return None
    tz = floor.tz
    earliest = datetime.combine(day, prefs.earliest, tzinfo=tz)
    latest = datetime.combine(day, prefs.latest_start, tzinfo=tz)
    chairs = list(floor.chairs)
    if last_room in chairs:
        chairs.remove(last_room)
        chairs.insert(0, last_room)
    for opening in spans_for_days([day], tz, floor.opening):
        t = opening.start
        while t < earliest:
            t += step
        while t <= latest and t + duration <= opening.end:
            span = Span(t, t + duration)
            if (not_before is None or t >= not_before) and not busy.overlapping(span):
                if not _spacing_conflicts(t, starts, rule, anchor, tz):
                    needed, available = floor.nurse_room(span)
                    room = next((r for r in chairs if floor.room_free(r, span)), None)
                    if needed <= available and room is not None:
                        nurse = floor.free_nurse(span, last_nurse) if floor.rota else None
                        if nurse is not None or not floor.rota:
                            return span, room, nurse
            t += step
    return None
