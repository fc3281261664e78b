"""The clinic floor for booking and planning: spans, timelines, rooms, nurses. Pure.

Times are aware datetimes; weekly patterns (opening hours, staff hours) are local
wall-clock times in the clinic's zone (``Floor.tz``), turned into aware spans per date
so an 08:00 opening stays 08:00 across daylight-saving changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
