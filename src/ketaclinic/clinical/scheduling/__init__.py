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

The parts: ``floor`` (spans, timelines, the ``Floor``), ``rules`` (a protocol's series
rule and the booking checks) and ``planner`` (the greedy planner).
"""

from __future__ import annotations

from .floor import Conflict, Floor, Span, spans_for_days
from .planner import Plan, PlannedSession, Preferences, plan_series
from .rules import (
    LATE_DAYS,
    SeriesRule,
    opening_conflicts,
    series_rule,
    slot_conflicts,
    window_conflicts,
)

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
