"""What the series optimiser's parts share: the requests, the result, the placing. Pure.

``_Placer`` is the one run that puts sessions on a floor with the greedy planner's
checks, holding each while the next is placed, and then leaves the floor as it was;
both models finish through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ..scheduling import Floor, Plan, PlannedSession, Preferences, SeriesRule, Span
from ..scheduling.floor import _Timeline
from ..scheduling.planner import _first_slot_on

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

# Seconds the solver may take for one patient's series in the app (the page waits).
SINGLE_TIME_LIMIT = 2.0
SOLVER_WORKERS = 2  # the production machine has two cores


@dataclass(frozen=True)
class SeriesRequest:
    """One patient's series to plan (the arguments of ``plan_series``)."""

    rule: SeriesRule
    prefs: Preferences
    start_date: date
    patient_busy: tuple[Span, ...] = ()
    kept_starts: tuple[datetime, ...] = ()
    not_before: datetime | None = None


@dataclass(frozen=True)
class ManyPlans:
    """The plans of several patients, in request order, and how they were made."""

    plans: tuple[Plan, ...]
    solver: str  # "cp-sat" or "greedy"
    status: str  # the solver's status (OPTIMAL, FEASIBLE, ...) or why it was not used
    greedy_in_window: int
    seconds: float
    notes: tuple[str, ...] = field(default=())
    solver_seconds: float = 0.0  # the CP-SAT solver's own wall time (part of ``seconds``)

    @property
    def in_window(self) -> int:
        return sum(p.placed_in_window for p in self.plans)


def _plans(
    requests: Sequence[SeriesRequest], placed: Sequence[Sequence[PlannedSession]]
) -> list[Plan]:
    """Number each request's sessions among its kept ones and make its plan."""
    plans = []
    for r, sessions in zip(requests, placed, strict=True):
        to_place = max(r.rule.sessions - len(r.kept_starts), 0)
        all_starts = sorted([*r.kept_starts, *(s.start for s in sessions)])
        plans.append(
            Plan(
                sessions=tuple(
                    replace(s, index=all_starts.index(s.start) + 1)
                    for s in sorted(sessions, key=lambda s: s.start)
                ),
                unplaced=to_place - len(sessions),
                window_start=r.start_date,
                window_end=r.start_date + timedelta(days=r.rule.span_days),
                notes=r.rule.notes,
            )
        )
    return plans


def _score(plans: Sequence[Plan]) -> tuple[int, int]:
    return (sum(p.placed_in_window for p in plans), sum(len(p.sessions) for p in plans))


def _kept_per_week(r: SeriesRequest, floor: Floor) -> dict[int, int]:
    """The course's kept sessions per course week (weeks counted from its start)."""
    kept_weeks: dict[int, int] = {}
    for start in r.kept_starts:
        week = (start.astimezone(floor.tz).date() - r.start_date).days // 7
        kept_weeks[week] = kept_weeks.get(week, 0) + 1
    return kept_weeks


def _solver(time_limit: float) -> cp_model.CpSolver:
    """A CP-SAT solver with the clinic's settings: the limit, two workers, a fixed seed."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = SOLVER_WORKERS
    solver.parameters.random_seed = 1  # the same proposal for the same floor
    return solver


class _Placer:
    """Sessions placed for several requests on ``floor``, each held before the next.

    ``finish`` releases what was held (the floor is left as it was) and numbers the plans.
    """

    def __init__(
        self,
        floor: Floor,
        requests: Sequence[SeriesRequest],
        step_minutes: int = 15,
        rooms: Sequence[int | None] | None = None,
        nurses: Sequence[int | None] | None = None,
    ) -> None:
        self.floor = floor
        self.requests = requests
        self.step = timedelta(minutes=step_minutes)
        self.busy = [_Timeline(r.patient_busy) for r in requests]
        self.starts = [sorted(r.kept_starts) for r in requests]
        self.placed: list[list[PlannedSession]] = [[] for _ in requests]
        self.last_room: list[int | None] = (
            list(rooms) if rooms is not None else [None] * len(requests)
        )
        self.last_nurse: list[int | None] = (
            list(nurses) if nurses is not None else [None] * len(requests)
        )
        self._held: list[tuple[int, Span, int | None]] = []
        self._home = (list(self.last_room), list(self.last_nurse))

    def first_slot(self, i: int, day: date) -> tuple[Span, int, int | None] | None:
        """The first slot on ``day`` passing the greedy planner's checks for request ``i``."""
        r = self.requests[i]
        return _first_slot_on(
            self.floor,
            day,
            r.rule,
            r.prefs,
            self.busy[i],
            self.starts[i],
            r.start_date,
            timedelta(minutes=r.rule.chair_minutes),
            self.step,
            r.not_before,
            self.last_room[i],
            self.last_nurse[i],
        )

    def keep(self, i: int, span: Span, room: int, nurse: int | None) -> None:
        """Hold ``span`` in ``room`` (with ``nurse``) as request ``i``'s next session."""
        r = self.requests[i]
        self.floor.hold(room, span, treatment=True, nurse=nurse)
        self._held.append((room, span, nurse))
        self.busy[i].add(span)
        self.starts[i] = sorted([*self.starts[i], span.start])
        self.last_room[i] = room
        self.last_nurse[i] = nurse if nurse is not None else self.last_nurse[i]
        window_end = r.start_date + timedelta(days=r.rule.span_days)
        self.placed[i].append(
            PlannedSession(
                index=0,
                start=span.start,
                end=span.end,
                room=room,
                in_window=span.start.astimezone(self.floor.tz).date() < window_end,
                nurse=nurse,
            )
        )

    def keep_at(self, i: int, span: Span) -> bool:
        """Keep ``span`` as request ``i``'s next session when the floor's checks pass: a
        chair free (the previous one first), nurse places, a named nurse free for all of
        it (the previous one first). The patient's own checks are the caller's."""
        floor = self.floor
        needed, available = floor.nurse_room(span)
        if needed > available:
            return False
        chairs = [room for room in floor.chairs if floor.room_free(room, span)]
        if not chairs:
            return False
        previous = self.last_room[i]
        room = previous if previous is not None and previous in chairs else chairs[0]
        nurse = floor.free_nurse(span, self.last_nurse[i]) if floor.rota else None
        if floor.rota and nurse is None:
            return False
        self.keep(i, span, room, nurse)
        return True

    def undo(self, i: int) -> None:
        """Take back request ``i``'s last kept session (its chair and nurse go back too)."""
        session = self.placed[i].pop()
        span = Span(session.start, session.end)
        self.floor.release(session.room, span, nurse=session.nurse)
        self._held.remove((session.room, span, session.nurse))
        self.busy[i].remove(span)
        self.starts[i].remove(session.start)
        before = self.placed[i][-1] if self.placed[i] else None
        self.last_room[i] = before.room if before else self._home[0][i]
        self.last_nurse[i] = before.nurse if before else self._home[1][i]

    def finish(self) -> list[Plan]:
        for room, span, nurse in self._held:
            self.floor.release(room, span, nurse=nurse)
        self._held = []
        return _plans(self.requests, self.placed)
