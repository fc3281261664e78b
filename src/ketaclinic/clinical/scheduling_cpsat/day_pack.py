"""One day's chosen sessions packed exactly: CP-SAT with interval variables. Pure.

The day model counts chair time and places per day, which a day's sessions can meet and
still not fit: patients free only from noon, a morning session running past noon, the
spacing since the patient's last session fixing their earliest time. When list
scheduling (each at its first free slot) leaves sessions of a day out, the day is packed
again, started from the list schedule: each session an optional interval on the start
grid inside its own hours, a cumulative over the chairs and one over the nurse places
(what the floor already holds as fixed demand). Chairs are identical here, so the model
has no chair variables and no chair symmetry to break: with every session of the day
given in start order, at most as many at once as chairs means a chair is free for each
(interval-graph colouring), and a named nurse when their shifts cover the day. Each
session is still kept only through the floor's own checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ..scheduling import Span, spans_for_days
from ..scheduling.rules import _spacing_conflicts
from .common import _Placer, _solver

if TYPE_CHECKING:
    from ortools.sat.python import cp_model


def pack_day(
    placer: _Placer, day: date, sessions: Sequence[int], hint: Mapping[int, int], limit: float
) -> tuple[list[tuple[int, int]], float]:
    """The most of ``sessions`` (request indices) that fit on ``day`` on ``placer``'s floor,
    as (local minute, request) in start order, and the solver's seconds; ``hint``: a local
    minute per request that fits (the list schedule). Nothing is held."""
    from ortools.sat.python import cp_model

    floor, tz = placer.floor, placer.floor.tz
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    whole_day = Span(midnight, midnight + timedelta(days=1))
    openings = spans_for_days([day], tz, floor.opening)
    model = cp_model.CpModel()
    chosen: dict[int, tuple[cp_model.IntVar, cp_model.IntVar]] = {}
    chairs: list[tuple[cp_model.IntervalVar, int]] = []
    places: list[tuple[cp_model.IntervalVar, int]] = []
    for i in sessions:
        options = [_minute(t, tz) for t in _starts(placer, i, openings)]
        if not options:
            continue
        start = model.new_int_var_from_domain(cp_model.Domain.from_values(options), f"s{i}")
        present = model.new_bool_var(f"p{i}")
        length = placer.requests[i].rule.chair_minutes
        interval = model.new_optional_fixed_size_interval_var(start, length, present, f"i{i}")
        chairs.append((interval, 1))
        places.append((interval, 1))
        chosen[i] = (start, present)
        model.add_hint(present, i in hint)
        model.add_hint(start, hint.get(i, options[0]))
    if not chosen:
        return [], 0.0
    for room in floor.chairs:
        for held in floor.busy[room].overlapping(whole_day) if room in floor.busy else ():
            chairs.append(_fixed(model, held, whole_day, tz))
    for held in floor.treatments.overlapping(whole_day):
        places.append(_fixed(model, held, whole_day, tz))
    # Nurse places: the most on shift at once, less the missing ones at each moment.
    shifts = floor._shifts.overlapping(whole_day)
    cuts = sorted({0, 1440, *(_minute(t, tz) for s in shifts for t in (s.start, s.end))})
    profile = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        moment = Span(midnight + timedelta(minutes=a), midnight + timedelta(minutes=b))
        profile.append((moment, sum(1 for s in shifts if s.covers(moment)) * floor.nurse_capacity))
    most = max((have for _, have in profile), default=0)
    for moment, have in profile:
        if have < most:
            places.append((_fixed(model, moment, whole_day, tz)[0], most - have))
    model.add_cumulative([iv for iv, _ in chairs], [d for _, d in chairs], len(floor.chairs))
    model.add_cumulative([iv for iv, _ in places], [d for _, d in places], most)
    # The most sessions, then the earliest starts (the spacing of later days counts from them).
    weight = 1440 * len(chosen) + 1
    model.maximize(sum(weight * present - start for start, present in chosen.values()))
    solver = _solver(limit)
    code: Any = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [], solver.wall_time
    packed = sorted(
        (solver.value(start), i)
        for i, (start, present) in chosen.items()
        if solver.boolean_value(present)
    )
    return packed, solver.wall_time


def _starts(placer: _Placer, i: int, openings: Sequence[Span]) -> list[datetime]:
    """Request ``i``'s starts on the grid of the day's openings, in its hours, apart from
    its other appointments and spaced from its sessions (the floor is the model's part)."""
    r = placer.requests[i]
    tz = placer.floor.tz
    length = timedelta(minutes=r.rule.chair_minutes)
    found = []
    for opening in openings:
        t = opening.start
        while t + length <= opening.end:
            local = t.astimezone(tz).time()
            if (
                r.prefs.earliest <= local <= r.prefs.latest_start
                and (r.not_before is None or t >= r.not_before)
                and t.utcoffset() == (t + length).utcoffset()
                and not placer.busy[i].overlapping(Span(t, t + length))
                and not _spacing_conflicts(t, placer.starts[i], r.rule, r.start_date, tz)
            ):
                found.append(t)
            t += placer.step
    return found


def _minute(moment: datetime, tz: Any) -> int:
    local = moment.astimezone(tz)
    return local.hour * 60 + local.minute


def _fixed(
    model: cp_model.CpModel, span: Span, day: Span, tz: Any
) -> tuple[cp_model.IntervalVar, int]:
    """``span`` cut to ``day`` as a fixed interval of local minutes (demand 1)."""
    first = 0 if span.start <= day.start else _minute(span.start, tz)
    last = 1440 if span.end >= day.end else _minute(span.end, tz)
    return model.new_fixed_size_interval_var(first, max(last - first, 0), "held"), 1
