"""Booking rules: a protocol's series rule and the checks one booking must pass. Pure.

Durations and spacing are measured in UTC (real elapsed time): two same-zone aware
datetimes subtract as wall-clock times in Python, which is an hour off across a
daylight-saving change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ..protocols.schema import Protocol
from .floor import Conflict, Floor, Span

# How many days after the protocol's window a session may still be placed or booked
# (marked "after the window"); later than that it is refused (clinic policy).
LATE_DAYS = 28


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
