"""Booking rules and series planning on a clinic floor: pure, no Django.

The same checks serve a single booking (``slot_conflicts``) and the planner
(``plan_series``), so a proposed series is never refused for a reason the planner
did not know about (except a race: someone booked in between; the booking re-checks).

Times are aware datetimes; weekly patterns (opening hours, staff hours) are local
wall-clock times in the clinic's zone (``Floor.tz``), turned into aware spans per date
so an 08:00 opening stays 08:00 across daylight-saving changes.

Durations and spacing are measured in UTC (real elapsed time): two same-zone aware
datetimes subtract as wall-clock times in Python, which is an hour off across a
daylight-saving change.

The planner is a greedy earliest-feasible-slot heuristic (list scheduling): sessions
are placed in order, each at the first slot (on a step grid from the opening time)
that satisfies the patient's preferences, the clinic's hours, a free chair (the
previous session's chair first, for continuity), the nurse capacity, a named nurse
free for the whole session (the previous session's nurse first), the patient's other
appointments and the protocol's spacing. It does not backtrack; a session it cannot
place inside the protocol's window is placed up to ``LATE_DAYS`` later (marked
outside) or left unplaced, and the proposal says so.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from .protocols.schema import Protocol

__all__ = [
    "LATE_DAYS",
    "Conflict",
    "Floor",
    "PlannedSession",
    "Plan",
    "Preferences",
    "SeriesRule",
    "Span",
    "opening_conflicts",
    "plan_series",
    "series_rule",
    "slot_conflicts",
    "spans_for_days",
    "window_conflicts",
]

# How many days after the protocol's window a session may still be placed or booked
# (marked "after the window"); later than that it is refused (clinic policy).
LATE_DAYS = 28

Weekly = Mapping[int, Sequence[tuple[time, time]]]  # weekday (Mon=0) -> [(start, end)] local


@dataclass(frozen=True, order=True)
class Span:
    """A half-open interval [start, end) of aware datetimes."""

    start: datetime
    end: datetime

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def covers(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class Conflict:
    """Why a slot is refused: a stable ``code`` and a sentence for people."""

    # room_taken | nurse_capacity | patient_busy | clinic_closed | spacing | course_window |
    # course_full | staff_*
    code: str
    message: str


def spans_for_days(
    days: Iterable[date],
    tz: ZoneInfo,
    weekly: Weekly,
    exceptions: Mapping[date, Sequence[tuple[time, time]]] | None = None,
) -> list[Span]:
    """Return the aware spans of a weekly pattern on the given local dates.

    A date in ``exceptions`` uses its listed hours instead (an empty list = away).
    """
    spans = []
    for day in days:
        hours = (exceptions or {}).get(day, weekly.get(day.weekday(), ()))
        for starts, ends in hours:
            spans.append(
                Span(
                    datetime.combine(day, starts, tzinfo=tz), datetime.combine(day, ends, tzinfo=tz)
                )
            )
    return sorted(spans)


def _key(span: Span) -> tuple[float, float]:
    return span.start.timestamp(), span.end.timestamp()


class _Timeline:
    """Spans sorted by start, with the longest duration kept for bounded overlap search.

    The search bisects a parallel list of (start, end) timestamps (comparing floats, not
    aware datetimes: the planner's hot loop); ``spans`` stays in the same order.
    """

    def __init__(self, spans: Iterable[Span] = ()) -> None:
        self.spans: list[Span] = sorted(spans)
        self._keys = [_key(s) for s in self.spans]
        self.longest = max((s.end - s.start for s in self.spans), default=timedelta(0))
        self._reach = self.longest.total_seconds()

    def add(self, span: Span) -> None:
        key = _key(span)
        i = bisect.bisect_right(self._keys, key)
        self._keys.insert(i, key)
        self.spans.insert(i, span)
        if span.end - span.start > self.longest:
            self.longest = span.end - span.start
            self._reach = self.longest.total_seconds()

    def remove(self, span: Span) -> None:
        """Remove one span equal to ``span`` (ValueError when there is none)."""
        key = _key(span)
        i = bisect.bisect_left(self._keys, key)
        while i < len(self.spans) and self._keys[i] == key:
            if self.spans[i] == span:
                del self.spans[i]
                del self._keys[i]
                return
            i += 1
        raise ValueError("span not in timeline")

    def overlapping(self, span: Span) -> list[Span]:
        start, end = span.start.timestamp(), span.end.timestamp()
        low = bisect.bisect_left(self._keys, (start - self._reach, start - self._reach))
        high = bisect.bisect_left(self._keys, (end, end))
        return [s for s in self.spans[low:high] if s.overlaps(span)]


def _peak(timeline: _Timeline | None, span: Span) -> int:
    """Return the most spans of ``timeline`` that run at once inside ``span`` (sweep line)."""
    if timeline is None:
        return 0
    events: list[tuple[datetime, int]] = []
    for other in timeline.overlapping(span):
        events.append((max(other.start, span.start), 1))
        events.append((min(other.end, span.end), -1))
    peak = running = 0
    for _, delta in sorted(events, key=lambda e: (e[0].astimezone(UTC), e[1])):
        running += delta
        peak = max(peak, running)
    return peak


@dataclass
class Floor:
    """What is already on the clinic floor around the time being booked.

    ``chairs`` lists usable room ids in preference order; ``busy`` holds each room's
    held spans; ``treatments`` every held treatment span in the clinic (for the
    nurse capacity); ``nurse_shifts`` the concrete working spans of the nurses.

    When the nurses are known by id, ``rota`` holds each one's working spans,
    ``nurse_load`` the treatments assigned to each, and ``nurse_busy`` each one's other
    appointments; then every treatment also needs one nurse free for its whole length
    (``free_nurse``), who is recorded on the booking.
    """

    tz: ZoneInfo
    opening: Weekly
    chairs: Sequence[int]
    busy: dict[int, _Timeline] = field(default_factory=dict)
    treatments: _Timeline = field(default_factory=_Timeline)
    nurse_shifts: Sequence[Span] = ()
    nurse_capacity: int = 2
    closed_days: frozenset[date] = frozenset()
    # Why the clinic is closed on a day (a holiday's name), for the refusal's message.
    closure_reasons: Mapping[date, str] = field(default_factory=dict)
    rota: dict[int, _Timeline] = field(default_factory=dict)
    nurse_load: dict[int, _Timeline] = field(default_factory=dict)
    nurse_busy: dict[int, _Timeline] = field(default_factory=dict)
    _shifts: _Timeline = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._shifts = _Timeline(self.nurse_shifts)  # indexed for nurse_room

    @classmethod
    def build(
        cls,
        *,
        tz: ZoneInfo,
        opening: Weekly,
        chairs: Sequence[int],
        busy: Mapping[int, Iterable[Span]] | None = None,
        treatments: Iterable[Span] = (),
        nurse_shifts: Sequence[Span] = (),
        nurse_capacity: int = 2,
        closed_days: Iterable[date] | Mapping[date, str] = (),
        rota: Mapping[int, Iterable[Span]] | None = None,
        nurse_load: Mapping[int, Iterable[Span]] | None = None,
        nurse_busy: Mapping[int, Iterable[Span]] | None = None,
    ) -> Floor:
        """Build a floor; ``nurse_shifts`` are anonymous, ``rota`` names each nurse's shifts."""
        named = {nurse: _Timeline(spans) for nurse, spans in (rota or {}).items()}
        return cls(
            tz=tz,
            opening=opening,
            chairs=list(chairs),
            busy={room: _Timeline((busy or {}).get(room, ())) for room in chairs}
            | {
                room: _Timeline(spans) for room, spans in (busy or {}).items() if room not in chairs
            },
            treatments=_Timeline(treatments),
            nurse_shifts=sorted([*nurse_shifts, *(s for t in named.values() for s in t.spans)]),
            nurse_capacity=nurse_capacity,
            closed_days=frozenset(closed_days),
            closure_reasons=dict(closed_days) if isinstance(closed_days, Mapping) else {},
            rota=named,
            nurse_load={n: _Timeline(spans) for n, spans in (nurse_load or {}).items()},
            nurse_busy={n: _Timeline(spans) for n, spans in (nurse_busy or {}).items()},
        )

    def hold(self, room: int, span: Span, *, treatment: bool, nurse: int | None = None) -> None:
        """Mark ``room`` taken for ``span`` (and count it for nurses if a treatment)."""
        self.busy.setdefault(room, _Timeline()).add(span)
        if treatment:
            self.treatments.add(span)
            if nurse is not None:
                self.nurse_load.setdefault(nurse, _Timeline()).add(span)

    def release(self, room: int, span: Span, *, nurse: int | None = None) -> None:
        """Undo ``hold`` of a treatment."""
        self.busy[room].remove(span)
        self.treatments.remove(span)
        if nurse is not None:
            self.nurse_load[nurse].remove(span)

    # --- the individual checks ---------------------------------------------------

    def open_during(self, span: Span) -> bool:
        local = span.start.astimezone(self.tz)
        day = local.date()
        if day in self.closed_days:
            return False
        return any(s.covers(span) for s in spans_for_days([day], self.tz, self.opening))

    def closure(self, span: Span) -> date | None:
        """The local day of ``span``'s start when the clinic is closed all that day."""
        day = span.start.astimezone(self.tz).date()
        return day if day in self.closed_days else None

    def room_free(self, room: int, span: Span) -> bool:
        timeline = self.busy.get(room)
        return timeline is None or not timeline.overlapping(span)

    def nurse_room(self, span: Span) -> tuple[int, int]:
        """Return (peak treatments during ``span`` including a new one, places available)."""
        nurses = sum(1 for shift in self._shifts.overlapping(span) if shift.covers(span))
        return _peak(self.treatments, span) + 1, nurses * self.nurse_capacity

    def free_nurse(self, span: Span, prefer: int | None = None) -> int | None:
        """Return a named nurse who can monitor one more patient throughout ``span``.

        The nurse works the whole span, has no other kind of appointment then, and
        has fewer than ``nurse_capacity`` patients at every moment of it. ``prefer``
        wins when free (continuity); otherwise the least loaded, then the lowest id.
        None when no named nurse is free (or none is known).
        """
        free = []
        for nurse, shifts in self.rota.items():
            if not any(s.covers(span) for s in shifts.overlapping(span)):
                continue
            other = self.nurse_busy.get(nurse)
            if other is not None and other.overlapping(span):
                continue
            load = _peak(self.nurse_load.get(nurse), span)
            if load + 1 > self.nurse_capacity:
                continue
            if nurse == prefer:
                return nurse
            free.append((load, nurse))
        return min(free)[1] if free else None


@dataclass(frozen=True)
class SeriesRule:
    """The schedule of one phase of a protocol, as the planner and the booking check use it.

    ``min_hours`` None means no published spacing: then no two sessions on one local day.
    ``notes`` say which numbers were derived rather than read from the protocol.
    """

    sessions: int
    chair_minutes: int
    min_hours: Decimal | None
    max_per_week: int | None
    span_days: int
    notes: tuple[str, ...] = ()


def series_rule(protocol: Protocol, phase_kind: str = "induction") -> SeriesRule:
    """Return the scheduling rule of the protocol's first phase of ``phase_kind``."""
    phase = next(p for p in protocol.phases if p.kind == phase_kind)
    notes: list[str] = []
    if phase.sessions is not None and phase.sessions.max is not None:
        sessions = int(phase.sessions.max)
    elif phase.sessions is not None and phase.sessions.min is not None:
        sessions = int(phase.sessions.min)
    else:
        sessions = 1
        notes.append("the phase has no session count: one session")
    per_week = phase.sessions_per_week
    max_per_week = int(per_week.max) if per_week is not None and per_week.max is not None else None
    if phase.max_span_days is not None:
        span = phase.max_span_days.value
    elif phase.start_week is not None and phase.end_week is not None:
        span = (phase.end_week - phase.start_week + 1) * 7
        notes.append(f"window of {span} days from weeks {phase.start_week}-{phase.end_week}")
    elif per_week is not None and per_week.min:
        span = math.ceil(sessions / per_week.min) * 7
        notes.append(f"window of {span} days from the minimum sessions per week")
    elif max_per_week:
        span = math.ceil(sessions / max_per_week) * 7 + 7
        notes.append(f"window of {span} days from the maximum sessions per week, plus a week")
    else:
        span = sessions * 7
        notes.append(f"window of {span} days (one session a week; the protocol gives none)")
    min_hours = phase.min_hours_between_sessions.value if phase.min_hours_between_sessions else None
    if min_hours is None:
        notes.append("no minimum interval in the protocol: at most one session a day")
    return SeriesRule(
        sessions=sessions,
        chair_minutes=protocol.total_chair_minutes,
        min_hours=min_hours,
        max_per_week=max_per_week,
        span_days=span,
        notes=tuple(notes),
    )


def _spacing_conflicts(
    start: datetime, others: Sequence[datetime], rule: SeriesRule, anchor: date, tz: ZoneInfo
) -> list[Conflict]:
    found: list[Conflict] = []
    if rule.min_hours is not None:
        gap = timedelta(hours=float(rule.min_hours))
        # Real elapsed time: subtract in UTC (see the module docstring).
        utc = start.astimezone(UTC)
        near = [o for o in others if abs(o.astimezone(UTC) - utc) < gap]
        if near:
            closest = min(near, key=lambda o: abs(o.astimezone(UTC) - utc))
            hours = abs(closest.astimezone(UTC) - utc).total_seconds() / 3600
            found.append(
                Conflict(
                    "spacing",
                    f"Sessions of this course must be at least {rule.min_hours:f} hours apart; "
                    f"another is {hours:.1f} hours away "
                    f"({closest.astimezone(tz):%a %d %b %H:%M}).",
                )
            )
    else:
        day = start.astimezone(tz).date()
        if any(o.astimezone(tz).date() == day for o in others):
            found.append(Conflict("spacing", "This course already has a session that day."))
    if rule.max_per_week is not None:
        week = (start.astimezone(tz).date() - anchor).days // 7
        same_week = [o for o in others if (o.astimezone(tz).date() - anchor).days // 7 == week]
        if len(same_week) + 1 > rule.max_per_week:
            found.append(
                Conflict(
                    "spacing",
                    f"At most {rule.max_per_week} sessions a week in this phase; "
                    f"week {week + 1} of the course already has {len(same_week)}.",
                )
            )
    return found


def window_conflicts(
    start: datetime, rule: SeriesRule, anchor: date, tz: ZoneInfo
) -> list[Conflict]:
    """Refuse a session before the course starts or more than LATE_DAYS after its window."""
    day = start.astimezone(tz).date()
    if day < anchor:
        return [
            Conflict(
                "course_window",
                f"The course starts on {anchor:%a %d %b %Y}; a session cannot be before it.",
            )
        ]
    window_end = anchor + timedelta(days=rule.span_days)
    last = window_end + timedelta(days=LATE_DAYS - 1)
    if day > last:
        return [
            Conflict(
                "course_window",
                f"The protocol's window for this course ends on "
                f"{window_end - timedelta(days=1):%a %d %b %Y}; a session may be at most "
                f"{LATE_DAYS} days after it (until {last:%a %d %b %Y}, clinic policy).",
            )
        ]
    return []


def opening_conflicts(floor: Floor, span: Span) -> list[Conflict]:
    """Why the clinic is not open for all of ``span`` (a closure or outside its hours).

    The one hours-and-closures check: a single appointment and a group circle are
    refused by it alike.
    """
    closed_day = floor.closure(span)
    if closed_day is not None:
        reason = floor.closure_reasons.get(closed_day, "")
        return [
            Conflict(
                "clinic_closed",
                f"The clinic is closed on {closed_day:%A} {closed_day.day} {closed_day:%B %Y}"
                + (f" ({reason})." if reason else "."),
            )
        ]
    if not floor.open_during(span):
        return [Conflict("clinic_closed", "The clinic is closed for part or all of that time.")]
    return []


def slot_conflicts(
    floor: Floor,
    *,
    room: int,
    span: Span,
    treatment: bool,
    patient_busy: Iterable[Span] = (),
    rule: SeriesRule | None = None,
    course_starts: Sequence[datetime] = (),
    course_anchor: date | None = None,
    assign_nurse: bool = False,
) -> list[Conflict]:
    """Every reason the slot cannot be booked ([] = it can).

    With ``assign_nurse`` (a treatment with no staff member chosen) and named nurses
    on the floor, one of them must be free for the whole session.
    """
    found = opening_conflicts(floor, span)
    if not floor.room_free(room, span):
        found.append(Conflict("room_taken", "That room or chair is already booked then."))
    if any(span.overlaps(other) for other in patient_busy):
        found.append(Conflict("patient_busy", "The patient already has an appointment then."))
    if treatment:
        needed, available = floor.nurse_room(span)
        if needed > available:
            found.append(
                Conflict(
                    "nurse_capacity",
                    f"Not enough nurses: {needed} patients would be in treatment at once and the "
                    f"nurses working then can monitor {available}.",
                )
            )
        elif assign_nurse and floor.rota and floor.free_nurse(span) is None:
            found.append(
                Conflict(
                    "nurse_capacity",
                    "No nurse is free for the whole session: each nurse working then is at "
                    "capacity, busy with another appointment or off for part of it.",
                )
            )
    if rule is not None and course_anchor is not None:
        found.extend(window_conflicts(span.start, rule, course_anchor, floor.tz))
        found.extend(_spacing_conflicts(span.start, course_starts, rule, course_anchor, floor.tz))
    return found


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
