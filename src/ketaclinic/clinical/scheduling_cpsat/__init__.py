"""Series planning with OR-Tools CP-SAT, started from the greedy plan. Pure, no Django.

The greedy planner (``scheduling.plan_series``) places each session at the first feasible
slot and never goes back, so an early choice can push later sessions, or later patients,
out of the protocol's window. Here the same choices are made by a constraint solver,
time-limited, with the greedy plan as its starting point (solution hints):

1. Every session's candidate starts are the greedy planner's own grid (``step_minutes``
   from each opening, inside the patient's days and times, not before ``not_before``,
   inside the course window plus ``extra_days``), kept only when the slot passes, against
   what is already on the floor, the same checks the greedy planner makes: the clinic
   open and not closed that day, the patient free, the protocol's spacing from the
   course's kept sessions (and its per-week maximum), a chair free for the whole
   session, enough nurse places, and a named nurse free for all of it.
2. The solver picks ordered starts: consecutive sessions at least ``min_hours`` real
   (UTC) hours apart, or on different local days when the protocol gives no interval;
   at most ``max_per_week`` in a week of the course (weeks counted from its start, kept
   sessions included); with several patients, the new sessions together never need
   more chairs, or nurse places, than the floor has left at any moment (cumulative).
3. The objective, in order (weights make it lexicographic): sessions inside their
   window; sessions placed at all; sessions in the patient's "home" chair and with the
   "home" nurse (one patient: fewer chair moves and nurse changes); earlier days.
4. Chairs and named nurses are then given in start order with the same checks
   (``Floor.room_free``, ``Floor.nurse_room``, ``Floor.free_nurse``) on a floor holding
   what was given before, the patient's previous (or home) chair and nurse first. A
   session that fails them is left unplaced (never booked unchecked).
5. The result is kept only when it places at least as many sessions inside their window
   as the greedy plan (then at least as many overall); otherwise, or when the solver
   finds nothing in time or is unavailable, the greedy plan is returned and its notes
   say so.

Starts are modelled as local wall-clock minutes (day * 1440 + minute), so a session's
chair time is ``chair_minutes`` on the clock; a slot across a daylight-saving change
(only possible in a clinic open at night) is not offered. Spacing uses real elapsed
minutes: the local minute minus that day's UTC offset.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from ..scheduling import LATE_DAYS, Floor, Plan, Preferences, SeriesRule, Span, plan_series
from .common import SINGLE_TIME_LIMIT, SOLVER_WORKERS, ManyPlans, SeriesRequest, _score
from .day_model import _DayModel
from .start_model import _assign, _Model

__all__ = [
    "SINGLE_TIME_LIMIT",
    "SOLVER_WORKERS",
    "ManyPlans",
    "SeriesRequest",
    "_DayModel",
    "_Model",
    "continuity",
    "plan_many",
    "plan_series_best",
]


def continuity(plan: Plan) -> tuple[int, int]:
    """Return (chair moves, nurse changes) between consecutive sessions of ``plan``."""
    sessions = sorted(plan.sessions, key=lambda s: s.start)
    moves = sum(1 for a, b in zip(sessions, sessions[1:], strict=False) if a.room != b.room)
    changes = sum(
        1
        for a, b in zip(sessions, sessions[1:], strict=False)
        if a.nurse is not None and b.nurse is not None and a.nurse != b.nurse
    )
    return moves, changes


def plan_series_best(
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
    time_limit: float = SINGLE_TIME_LIMIT,
) -> Plan:
    """``plan_series`` (same arguments, nothing held) improved by CP-SAT when it can be.

    The plan's notes end with a sentence saying which planner made it.
    """
    request = SeriesRequest(
        rule=rule,
        prefs=prefs,
        start_date=start_date,
        patient_busy=tuple(patient_busy),
        kept_starts=tuple(kept_starts),
        not_before=not_before,
    )
    result = plan_many(
        floor,
        [request],
        step_minutes=step_minutes,
        extra_days=extra_days,
        time_limit=time_limit,
    )
    plan = result.plans[0]
    return replace(plan, notes=(*plan.notes, *result.notes))


def plan_many(
    floor: Floor,
    requests: Sequence[SeriesRequest],
    *,
    step_minutes: int = 15,
    extra_days: int = LATE_DAYS,
    time_limit: float = 4.0,
    hold: bool = False,
    greedy: Sequence[Plan] | None = None,
) -> ManyPlans:
    """Plan several patients' series together on ``floor`` (each a different patient).

    ``greedy``: the greedy plans of the same requests, made in request order with each
    held before the next (computed here when not given). With ``hold`` the chosen plans
    are marked on ``floor``.
    """
    started = clock.perf_counter()
    if greedy is None:
        greedy = _greedy(floor, requests, step_minutes, extra_days)
    greedy = list(greedy)
    greedy_score = _score(greedy)
    chosen: list[Plan] | None = None
    solver_seconds = 0.0
    try:
        if len(requests) == 1:
            model = _Model(floor, requests, greedy, step_minutes, extra_days)
            status, starts = model.solve(time_limit)
            if starts is not None:
                chosen = _assign(floor, requests, starts, model.home_chairs, model.home_nurses)
            solver_seconds = model.solver_seconds
        else:
            days = _DayModel(floor, requests, greedy, step_minutes, extra_days)
            status, chosen = days.solve(time_limit)
            solver_seconds = days.solver_seconds
    except ImportError:  # pragma: no cover - ortools is a pinned dependency
        status = "UNAVAILABLE"
    if chosen is not None:
        if _score(chosen) < greedy_score:
            status = f"{status}, below the greedy plan"
            chosen = None
        elif _score(chosen) == greedy_score and len(requests) > 1:
            status = f"{status}, no better than the greedy plan"
            chosen = None
    if chosen is None:
        plans = greedy
        solver = "greedy"
        notes: tuple[str, ...] = (
            "planned by the greedy planner (earliest free slot): the optimiser "
            + (
                "found no better plan in time"
                if status in ("UNKNOWN", "MODEL_INVALID", "INFEASIBLE")
                or status.endswith("greedy plan")
                or status == "NOTHING_TO_PLACE"
                else "was not available"
            ),
        )
    else:
        plans = chosen
        solver = "cp-sat"
        notes = (
            "planned by the optimiser (OR-Tools CP-SAT"
            + (", optimal" if status == "OPTIMAL" else f", best found in {time_limit:g} s")
            + "), starting from the earliest-free-slot plan",
        )
    if hold:
        for plan in plans:
            for s in plan.sessions:
                floor.hold(s.room, Span(s.start, s.end), treatment=True, nurse=s.nurse)
    return ManyPlans(
        plans=tuple(plans),
        solver=solver,
        status=status,
        greedy_in_window=sum(p.placed_in_window for p in greedy),
        seconds=clock.perf_counter() - started,
        notes=notes,
        solver_seconds=solver_seconds,
    )


# --- the greedy baseline and the comparison -------------------------------------------


def _greedy(
    floor: Floor, requests: Sequence[SeriesRequest], step_minutes: int, extra_days: int
) -> list[Plan]:
    """The greedy plans, each held while the next is made; the floor is left as it was."""
    plans = []
    for r in requests:
        plans.append(
            plan_series(
                floor,
                rule=r.rule,
                prefs=r.prefs,
                start_date=r.start_date,
                patient_busy=r.patient_busy,
                kept_starts=r.kept_starts,
                not_before=r.not_before,
                step_minutes=step_minutes,
                extra_days=extra_days,
                hold=True,
            )
        )
    for plan in plans:
        for s in plan.sessions:
            floor.release(s.room, Span(s.start, s.end), nurse=s.nurse)
    return plans
