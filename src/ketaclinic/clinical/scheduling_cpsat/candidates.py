"""Candidate slots for the series optimiser: the floor's checks made once. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ..scheduling import Floor, Span, spans_for_days
from ..scheduling.floor import _peak, _Timeline
from ..scheduling.rules import _spacing_conflicts
from .common import SeriesRequest

if TYPE_CHECKING:
    from ortools.sat.python import cp_model


@dataclass(frozen=True)
class _Slot:
    """A candidate start that passes every check against the floor as it is."""

    start: datetime
    minute: int  # real (UTC) minutes since the origin day's local midnight
    local: int  # local minute of the day
    chairs: tuple[int, ...]
    nurses: tuple[int, ...]

    @property
    def day(self) -> int:
        return self.minute // 1440


def _free_nurses(floor: Floor, span: Span) -> tuple[int, ...]:
    """Every named nurse who could take this session (``Floor.free_nurse``'s test)."""
    free = []
    for nurse, shifts in floor.rota.items():
        if not any(s.covers(span) for s in shifts.overlapping(span)):
            continue
        other = floor.nurse_busy.get(nurse)
        if other is not None and other.overlapping(span):
            continue
        if _peak(floor.nurse_load.get(nurse), span) + 1 > floor.nurse_capacity:
            continue
        free.append(nurse)
    return tuple(free)


class _Candidates:
    """Candidate slots per request; the floor's checks made once per day and duration."""

    def __init__(self, floor: Floor, origin: date, step_minutes: int, extra_days: int) -> None:
        self.floor = floor
        self.origin = origin
        self.origin_utc = datetime.combine(origin, time(0), tzinfo=floor.tz).astimezone(UTC)
        self.step = timedelta(minutes=step_minutes)
        self.extra_days = extra_days
        self._days: dict[tuple[date, int], list[_Slot]] = {}

    def minute(self, moment: datetime) -> int:
        return int((moment.astimezone(UTC) - self.origin_utc).total_seconds() // 60)

    def day_slots(self, day: date, minutes: int) -> list[_Slot]:
        """Every start on ``day``'s grid (``step`` from each opening) that the floor allows."""
        key = (day, minutes)
        if key in self._days:
            return self._days[key]
        floor, tz = self.floor, self.floor.tz
        duration = timedelta(minutes=minutes)
        number = (day - self.origin).days
        found = []
        for opening in spans_for_days([day], tz, floor.opening):
            t = opening.start
            while t + duration <= opening.end:
                span = Span(t, t + duration)
                minute = self.minute(t)
                # Not across a daylight-saving change, not within an hour of midnight
                # (the day is read from the real minute): only a clinic open at night.
                if t.utcoffset() == span.end.utcoffset() and minute // 1440 == number:
                    fits = self._fits(span)
                    if fits is not None:
                        found.append(_Slot(t, minute, t.hour * 60 + t.minute, fits[0], fits[1]))
                t += self.step
        self._days[key] = found
        return found

    def _fits(self, span: Span) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        floor = self.floor
        needed, available = floor.nurse_room(span)
        if needed > available:
            return None
        chairs = tuple(r for r in floor.chairs if floor.room_free(r, span))
        if not chairs:
            return None
        nurses = _free_nurses(floor, span) if floor.rota else ()
        if floor.rota and not nurses:
            return None
        return chairs, nurses

    def slots(self, r: SeriesRequest) -> list[_Slot]:
        floor, tz = self.floor, self.floor.tz
        rule, prefs = r.rule, r.prefs
        busy = _Timeline(r.patient_busy)
        kept = sorted(r.kept_starts)
        window_end = r.start_date + timedelta(days=rule.span_days)
        horizon = window_end + timedelta(days=self.extra_days)
        earliest = prefs.earliest.hour * 60 + prefs.earliest.minute
        latest = prefs.latest_start.hour * 60 + prefs.latest_start.minute
        not_before = None if r.not_before is None else self.minute(r.not_before)
        day = r.start_date
        if r.not_before is not None:
            day = max(day, r.not_before.astimezone(tz).date())
        found: list[_Slot] = []
        while day < horizon:
            if day.weekday() in prefs.weekdays and day not in floor.closed_days:
                for slot in self.day_slots(day, rule.chair_minutes):
                    if not earliest <= slot.local <= latest:
                        continue
                    if not_before is not None and slot.minute < not_before:
                        continue
                    if busy.spans:
                        end = slot.start + timedelta(minutes=rule.chair_minutes)
                        if busy.overlapping(Span(slot.start, end)):
                            continue
                    if kept and _spacing_conflicts(slot.start, kept, rule, r.start_date, tz):
                        continue
                    found.append(slot)
            day += timedelta(days=1)
        return found


class _SolverModel:
    """What both CP-SAT models start from: the floor, the requests (``origin``: the first
    start date), the candidate slots and an empty model; ``_run`` solves it."""

    def __init__(
        self, floor: Floor, requests: Sequence[SeriesRequest], step_minutes: int, extra_days: int
    ) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.floor = floor
        self.requests = requests
        self.origin = min((r.start_date for r in requests), default=date(2000, 1, 1))
        self.candidates = _Candidates(floor, self.origin, step_minutes, extra_days)
        self.model = cp_model.CpModel()
        self.solver_seconds = 0.0  # the solver's own wall time, all solves together

    def _run(self, solver: cp_model.CpSolver) -> tuple[str, bool]:
        """Solve the model: the solver's status name, and whether it found a solution."""
        code: Any = solver.solve(self.model)
        self.solver_seconds += solver.wall_time
        return solver.status_name(code), code in (self.cp.OPTIMAL, self.cp.FEASIBLE)
