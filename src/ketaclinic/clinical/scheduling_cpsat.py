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

import math
import time as clock
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from .scheduling import (
    LATE_DAYS,
    Floor,
    Plan,
    PlannedSession,
    Preferences,
    SeriesRule,
    Span,
    _first_slot_on,
    _peak,
    _spacing_conflicts,
    _Timeline,
    plan_series,
    spans_for_days,
)

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

__all__ = [
    "ManyPlans",
    "SeriesRequest",
    "continuity",
    "plan_many",
    "plan_series_best",
]

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

    @property
    def in_window(self) -> int:
        return sum(p.placed_in_window for p in self.plans)


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
    try:
        if len(requests) == 1:
            model = _Model(floor, requests, greedy, step_minutes, extra_days)
            status, starts = model.solve(time_limit)
            if starts is not None:
                chosen = _assign(floor, requests, starts, model.home_chairs, model.home_nurses)
        else:
            status, chosen = _DayModel(floor, requests, greedy, step_minutes, extra_days).solve(
                time_limit
            )
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


def _dispatch(
    floor: Floor, requests: Sequence[SeriesRequest], step_minutes: int, extra_days: int
) -> list[Plan]:
    """Plan day by day across all patients, the most pressed first; floor left as it was.

    Each day, every patient whose next session may fall that day is offered the first
    free slot (``_first_slot_on``: the greedy planner's own checks), in order of urgency:
    still inside the window before already late, then the most sessions left per
    usable day left in the window. Each placed session is held before the next.
    """
    tz = floor.tz
    step = timedelta(minutes=step_minutes)
    busy = [_Timeline(r.patient_busy) for r in requests]
    starts = [sorted(r.kept_starts) for r in requests]
    left = [max(r.rule.sessions - len(r.kept_starts), 0) for r in requests]
    placed: list[list[PlannedSession]] = [[] for _ in requests]
    last_room: list[int | None] = [None] * len(requests)
    last_nurse: list[int | None] = [None] * len(requests)
    first = [
        r.start_date
        if r.not_before is None
        else max(r.start_date, r.not_before.astimezone(tz).date())
        for r in requests
    ]
    ends = [r.start_date + timedelta(days=r.rule.span_days) for r in requests]
    horizons = [e + timedelta(days=extra_days) for e in ends]
    if not requests:
        return []
    day, last = min(first), max(horizons)
    usable: dict[tuple[frozenset[int], date, date], int] = {}

    def usable_days(i: int) -> int:
        key = (requests[i].prefs.weekdays, day, ends[i])
        if key not in usable:
            usable[key] = sum(
                1
                for n in range((ends[i] - day).days)
                if (day + timedelta(days=n)).weekday() in key[0]
                and day + timedelta(days=n) not in floor.closed_days
            )
        return usable[key]

    while day < last:
        if day not in floor.closed_days:
            active = [
                i
                for i, r in enumerate(requests)
                if left[i] and first[i] <= day < horizons[i] and day.weekday() in r.prefs.weekdays
            ]
            active.sort(key=lambda i: (day >= ends[i], -left[i] / max(usable_days(i), 1), i))
            for i in active:
                r = requests[i]
                found = _first_slot_on(
                    floor,
                    day,
                    r.rule,
                    r.prefs,
                    busy[i],
                    starts[i],
                    r.start_date,
                    timedelta(minutes=r.rule.chair_minutes),
                    step,
                    r.not_before,
                    last_room[i],
                    last_nurse[i],
                )
                if found is None:
                    continue
                span, room, nurse = found
                floor.hold(room, span, treatment=True, nurse=nurse)
                busy[i].add(span)
                starts[i] = sorted([*starts[i], span.start])
                last_room[i] = room
                last_nurse[i] = nurse if nurse is not None else last_nurse[i]
                left[i] -= 1
                placed[i].append(
                    PlannedSession(
                        index=0,
                        start=span.start,
                        end=span.end,
                        room=room,
                        in_window=span.start.astimezone(tz).date() < ends[i],
                        nurse=nurse,
                    )
                )
        day += timedelta(days=1)
    for sessions in placed:
        for s in sessions:
            floor.release(s.room, Span(s.start, s.end), nurse=s.nurse)
    return _plans(requests, placed)


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


# --- candidate slots ------------------------------------------------------------------


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


# --- the model --------------------------------------------------------------------------


class _Model:
    """One patient's series with every start time (the app's proposal); ``solve`` returns
    the chosen slots. Several patients use ``_DayModel`` (this one is too large for a
    clinic-month in seconds)."""

    def __init__(
        self,
        floor: Floor,
        requests: Sequence[SeriesRequest],
        greedy: Sequence[Plan],
        step_minutes: int,
        extra_days: int,
    ) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.floor = floor
        self.requests = requests
        self.origin = min((r.start_date for r in requests), default=date(2000, 1, 1))
        self.candidates = _Candidates(floor, self.origin, step_minutes, extra_days)
        self.slots = [self.candidates.slots(r) for r in requests]
        self.by_minute = [{s.minute: s for s in slots} for slots in self.slots]
        self.model = cp_model.CpModel()
        self.starts: list[list[cp_model.IntVar]] = []
        self.present: list[list[cp_model.IntVar]] = []
        self.home_chairs: list[int | None] = [None] * len(requests)
        self.home_nurses: list[int | None] = [None] * len(requests)
        self._home_vars: list[tuple[dict[int, cp_model.IntVar], dict[int, cp_model.IntVar]]] = []
        # Derived variables and how to compute their hinted value from a start (minute).
        self._derived: list[list[tuple[cp_model.IntVar, int, int, int]]] = []
        self._inside: list[list[tuple[cp_model.IntVar, int]]] = []
        self._build(greedy)

    def _build(self, greedy: Sequence[Plan]) -> None:
        cp, m = self.cp, self.model
        total = sum(max(r.rule.sessions - len(r.kept_starts), 0) for r in self.requests)
        horizon = max((s.minute for slots in self.slots for s in slots), default=0) + 1
        # Lexicographic weights: in window > placed > home chair and nurse > earlier
        # starts > the first usable chair and nurse in the floor's order as the home ones.
        w_rank = 1
        w_early = len(self.floor.chairs) + len(self.floor.rota) + 1
        w_home = w_early * (total * horizon + 1)
        w_placed = w_home * (2 * total + 1)
        w_window = w_placed * (total + 1)
        objective: list[cp_model.LinearExprT] = []
        for i, r in enumerate(self.requests):
            slots = self.slots[i]
            to_place = max(r.rule.sessions - len(r.kept_starts), 0)
            starts: list[cp_model.IntVar] = []
            present: list[cp_model.IntVar] = []
            derived: list[tuple[cp_model.IntVar, int, int, int]] = []
            insides: list[tuple[cp_model.IntVar, int]] = []
            self.starts.append(starts)
            self.present.append(present)
            self._derived.append(derived)
            self._inside.append(insides)
            homes: tuple[dict[int, cp_model.IntVar], dict[int, cp_model.IntVar]] = ({}, {})
            self._home_vars.append(homes)
            if not slots or not to_place:
                continue
            domain = cp.Domain.from_values([s.minute for s in slots])
            lowest, highest = slots[0].minute, slots[-1].minute
            window_end = (r.start_date + timedelta(days=r.rule.span_days) - self.origin).days
            anchor = (r.start_date - self.origin).days
            duration = r.rule.chair_minutes
            days: list[cp_model.IntVar] = []
            weeks: list[cp_model.IntVar] = []
            for k in range(to_place):
                start = m.new_int_var_from_domain(domain, f"s{i}_{k}")
                is_present = m.new_bool_var(f"p{i}_{k}")
                inside = m.new_bool_var(f"w{i}_{k}")
                m.add(start <= window_end * 1440 - 1).only_enforce_if(inside)
                m.add_implication(inside, is_present)
                insides.append((inside, window_end * 1440))
                if k:
                    m.add_implication(is_present, present[-1])
                if r.rule.min_hours is None:
                    day = m.new_int_var(lowest // 1440, highest // 1440, f"d{i}_{k}")
                    m.add_division_equality(day, start, 1440)
                    days.append(day)
                    derived.append((day, k, 0, 1440))
                if r.rule.max_per_week is not None:
                    week = m.new_int_var(0, (highest - anchor * 1440) // 10080, f"wk{i}_{k}")
                    m.add_division_equality(week, start - anchor * 1440, 10080)
                    weeks.append(week)
                    derived.append((week, k, anchor * 1440, 10080))
                starts.append(start)
                present.append(is_present)
                objective += [w_window * inside, w_placed * is_present, -w_early * start]
            for k in range(1, to_place):
                later = present[k]
                m.add(starts[k] >= starts[k - 1] + duration).only_enforce_if(later)
                if r.rule.min_hours is not None:
                    gap = int(float(r.rule.min_hours) * 60)
                    m.add(starts[k] - starts[k - 1] >= gap).only_enforce_if(later)
                else:
                    m.add(days[k] >= days[k - 1] + 1).only_enforce_if(later)
            if r.rule.max_per_week is not None:
                self._per_week(i, r, weeks, present)
            objective += self._homes(i, starts, present, homes, w_home, w_rank)
        m.maximize(sum(objective))
        self._hint(greedy)

    def _per_week(
        self,
        i: int,
        r: SeriesRequest,
        weeks: Sequence[cp_model.IntVar],
        present: Sequence[cp_model.IntVar],
    ) -> None:
        """At most ``max_per_week`` a week, the course's kept sessions counted."""
        m = self.model
        most = r.rule.max_per_week
        assert most is not None
        for k in range(most, len(weeks)):
            m.add(weeks[k] >= weeks[k - most] + 1).only_enforce_if(present[k])
        kept_weeks: dict[int, int] = {}
        for start in r.kept_starts:
            week = (start.astimezone(self.floor.tz).date() - r.start_date).days // 7
            kept_weeks[week] = kept_weeks.get(week, 0) + 1
        for week, count in kept_weeks.items():
            room = most - count  # new sessions still allowed that week (a full week has
            if room < 1 or room >= len(weeks):  # no candidate slots at all)
                continue
            for k in range(len(weeks) - room):
                before = m.new_bool_var(f"kw{i}_{week}_{k}")
                m.add(weeks[k] <= week - 1).only_enforce_if(before)
                m.add(weeks[k + room] >= week + 1).only_enforce_if(
                    [before.negated(), present[k + room]]
                )

    def _homes(
        self,
        i: int,
        starts: Sequence[cp_model.IntVar],
        present: Sequence[cp_model.IntVar],
        homes: tuple[dict[int, cp_model.IntVar], dict[int, cp_model.IntVar]],
        weight: int,
        rank_weight: int,
    ) -> list[cp_model.LinearExprT]:
        """One patient: a home chair and a home nurse, and each session at them or not."""
        cp, m = self.cp, self.model
        slots = self.slots[i]
        terms: list[cp_model.LinearExprT] = []
        for kind, (choices, names) in enumerate(
            ((homes[0], list(self.floor.chairs)), (homes[1], list(self.floor.rota)))
        ):
            usable = [
                n for n in names if any(n in (s.chairs if kind == 0 else s.nurses) for s in slots)
            ]
            if not usable:
                continue
            for n in usable:
                choices[n] = m.new_bool_var(f"h{kind}_{i}_{n}")
            m.add_exactly_one(choices.values())
            terms += [-rank_weight * rank * choices[n] for rank, n in enumerate(usable)]
            for k, start in enumerate(starts):
                at_home = m.new_bool_var(f"a{kind}_{i}_{k}")
                m.add_implication(at_home, present[k])
                for n, chosen in choices.items():
                    values = [s.minute for s in slots if n in (s.chairs if kind == 0 else s.nurses)]
                    m.add_linear_expression_in_domain(
                        start, cp.Domain.from_values(values)
                    ).only_enforce_if([at_home, chosen])
                terms.append(weight * at_home)
        return terms

    def _hint(self, greedy: Sequence[Plan]) -> None:
        """The greedy plan as the solver's starting point (every variable hinted)."""
        m = self.model
        for i, plan in enumerate(greedy):
            if i >= len(self.starts) or not self.starts[i]:
                continue
            minutes = [self.candidates.minute(s.start) for s in plan.sessions]
            minutes = sorted(v for v in minutes if v in self.by_minute[i])
            starts, present = self.starts[i], self.present[i]
            values: list[int] = []
            for k, start in enumerate(starts):
                value = minutes[k] if k < len(minutes) else self.slots[i][0].minute
                values.append(value)
                m.add_hint(start, value)
                m.add_hint(present[k], k < len(minutes))
            for (inside, bound), value, k in zip(
                self._inside[i], values, range(len(values)), strict=True
            ):
                m.add_hint(inside, k < len(minutes) and value < bound)
            for var, k, shift, divisor in self._derived[i]:
                m.add_hint(var, (values[k] - shift) // divisor)

    def solve(self, time_limit: float) -> tuple[str, list[list[_Slot]] | None]:
        cp = self.cp
        if not any(self.starts):
            return "NOTHING_TO_PLACE", [[] for _ in self.requests]
        solver = cp.CpSolver()
        solver.parameters.max_time_in_seconds = time_limit
        solver.parameters.num_workers = SOLVER_WORKERS
        solver.parameters.random_seed = 1  # the same proposal for the same floor
        code = solver.solve(self.model)
        status = solver.status_name(code)
        if code not in (cp.OPTIMAL, cp.FEASIBLE):
            return status, None
        chosen: list[list[_Slot]] = []
        for i, starts in enumerate(self.starts):
            slots = [
                self.by_minute[i][solver.value(s)]
                for s, p in zip(starts, self.present[i], strict=True)
                if solver.boolean_value(p)
            ]
            chosen.append(slots)
            chairs, nurses = self._home_vars[i]
            self.home_chairs[i] = next(
                (n for n, v in chairs.items() if solver.boolean_value(v)), None
            )
            self.home_nurses[i] = next(
                (n for n, v in nurses.items() if solver.boolean_value(v)), None
            )
        return status, chosen


class _DayModel:
    """Several patients: CP-SAT chooses each session's day, then the day is filled in.

    A model with every start time (``_Model``) is too large for a clinic-month in a few
    seconds, so the solver decides days only: each patient's sessions on usable days
    (their weekdays, the clinic open, a slot the floor allows), no two closer than the
    protocol's interval in whole days, at most ``max_per_week`` a course week, and each
    day's chair time (and nurse places) not overbooked, also counting only the time
    after each patient's earliest start (the nested windows of the day). Then each day,
    in order, the chosen sessions get the first free slot with the greedy planner's own
    checks (earliest preferred start first); a session that does not fit, or a patient
    given fewer days than sessions, is completed by the greedy planner around what was
    placed. Hard constraints are therefore checked exactly as the greedy planner checks
    them; the solver only chooses the days.
    """

    def __init__(
        self,
        floor: Floor,
        requests: Sequence[SeriesRequest],
        greedy: Sequence[Plan],
        step_minutes: int,
        extra_days: int,
    ) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.floor = floor
        self.requests = requests
        self.step_minutes = step_minutes
        self.extra_days = extra_days
        self.origin = min(r.start_date for r in requests)
        self.candidates = _Candidates(floor, self.origin, step_minutes, extra_days)
        self.model = cp_model.CpModel()
        self.x: list[dict[date, cp_model.IntVar]] = []
        self._build(greedy)

    def _usable(self, r: SeriesRequest) -> list[date]:
        tz = self.floor.tz
        earliest = r.prefs.earliest.hour * 60 + r.prefs.earliest.minute
        latest = r.prefs.latest_start.hour * 60 + r.prefs.latest_start.minute
        not_before = None if r.not_before is None else self.candidates.minute(r.not_before)
        kept = sorted(r.kept_starts)
        first = r.start_date
        if r.not_before is not None:
            first = max(first, r.not_before.astimezone(tz).date())
        horizon = r.start_date + timedelta(days=r.rule.span_days)  # the window only
        days = []
        day = first
        duration = timedelta(minutes=r.rule.chair_minutes)
        while day < horizon:
            if day.weekday() in r.prefs.weekdays and day not in self.floor.closed_days:
                # A start on the grid inside the patient's times and the opening hours
                # (what is already booked is left to the day's capacity and the filling).
                for opening in spans_for_days([day], tz, self.floor.opening):
                    t = opening.start
                    found = False
                    while t + duration <= opening.end and not found:
                        local = t.hour * 60 + t.minute
                        found = (
                            earliest <= local <= latest
                            and (not_before is None or self.candidates.minute(t) >= not_before)
                            and not (kept and _spacing_conflicts(t, kept, r.rule, r.start_date, tz))
                        )
                        t += self.candidates.step
                    if found:
                        days.append(day)
                        break
            day += timedelta(days=1)
        return days

    def _build(self, greedy: Sequence[Plan]) -> None:
        m, floor = self.model, self.floor
        tz = floor.tz
        # Days inside the window only: the most sessions there. Sessions it leaves out
        # are placed afterwards by the greedy planner (after the window if need be).
        objective: list[cp_model.LinearExprT] = []
        load: dict[date, list[tuple[int, int, cp_model.IntVar]]] = {}
        for i, r in enumerate(self.requests):
            to_place = max(r.rule.sessions - len(r.kept_starts), 0)
            x = {d: m.new_bool_var(f"x{i}_{d:%m%d}") for d in self._usable(r)} if to_place else {}
            self.x.append(x)
            if not x:
                continue
            m.add(sum(x.values()) <= to_place)
            # No two sessions closer than the interval in whole days (48 h: not on
            # consecutive days); no interval: one a day (a variable per day already).
            if r.rule.min_hours is not None:
                reach = math.ceil(float(r.rule.min_hours) / 24)
                for d in x:
                    near = [
                        x[d + timedelta(days=n)] for n in range(reach) if d + timedelta(days=n) in x
                    ]
                    if len(near) > 1:
                        m.add_at_most_one(near)
            if r.rule.max_per_week is not None:
                weeks: dict[int, list[cp_model.IntVar]] = {}
                for d, var in x.items():
                    weeks.setdefault((d - r.start_date).days // 7, []).append(var)
                kept_weeks: dict[int, int] = {}
                for k in r.kept_starts:
                    week = (k.astimezone(tz).date() - r.start_date).days // 7
                    kept_weeks[week] = kept_weeks.get(week, 0) + 1
                for week, chosen in weeks.items():
                    room = r.rule.max_per_week - kept_weeks.get(week, 0)
                    if len(chosen) > room:
                        m.add(sum(chosen) <= max(room, 0))
            earliest = r.prefs.earliest.hour * 60 + r.prefs.earliest.minute
            # Chair time on the start grid: a 100-minute session holds its chair until
            # the next start 105 minutes on (15-minute steps).
            held = math.ceil(r.rule.chair_minutes / self.step_minutes) * self.step_minutes
            for d, var in x.items():
                objective.append(var)
                load.setdefault(d, []).append((earliest, held, var))
        for d, sessions in load.items():
            for cut in sorted({e for e, _, _ in sessions}):
                terms = [minutes * var for e, minutes, var in sessions if e >= cut]
                capacity = self._capacity(d, cut)
                m.add(sum(terms) <= capacity)
        m.maximize(sum(objective))
        for i, plan in enumerate(greedy):
            if i >= len(self.x):
                break
            days = {s.start.astimezone(tz).date() for s in plan.sessions}
            for d, var in self.x[i].items():
                m.add_hint(var, d in days)

    def _capacity(self, day: date, cut: int) -> int:
        """Chair-minutes free on ``day`` from ``cut`` (local minute) to closing, at most
        the nurse place-minutes then."""
        floor = self.floor
        total = 0
        for opening in spans_for_days([day], floor.tz, floor.opening):
            start = max(
                opening.start,
                datetime.combine(day, time(0), tzinfo=floor.tz) + timedelta(minutes=cut),
            )
            if start >= opening.end:
                continue
            window = Span(start, opening.end)
            minutes = int((window.end - window.start).total_seconds() // 60)
            chairs = 0
            for room in floor.chairs:
                taken = sum(
                    (min(s.end, window.end) - max(s.start, window.start)).total_seconds() // 60
                    for s in floor.busy.get(room, _Timeline()).overlapping(window)
                )
                free = max(minutes - int(taken), 0)
                # The last session of the chair needs no rounding up to the grid.
                chairs += free + (self.step_minutes - 1 if free else 0)
            shifts = [s for s in floor._shifts.overlapping(window)]
            places = sum(
                (min(s.end, window.end) - max(s.start, window.start)).total_seconds() // 60
                for s in shifts
            ) * floor.nurse_capacity - sum(
                (min(s.end, window.end) - max(s.start, window.start)).total_seconds() // 60
                for s in floor.treatments.overlapping(window)
            )
            places += len(shifts) * floor.nurse_capacity * (self.step_minutes - 1)
            total += min(chairs, int(places))
        return max(total, 0)

    def solve(self, time_limit: float) -> tuple[str, list[Plan] | None]:
        cp = self.cp
        if not any(self.x):
            return "NOTHING_TO_PLACE", None
        solver = cp.CpSolver()
        solver.parameters.max_time_in_seconds = time_limit
        solver.parameters.num_workers = SOLVER_WORKERS
        solver.parameters.random_seed = 1
        # Measured on the clinic-month: probing and symmetry cost seconds of presolve
        # and found nothing; the large-neighbourhood search is what improves the plan.
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.symmetry_level = 0
        code = solver.solve(self.model)
        status = solver.status_name(code)
        if code not in (cp.OPTIMAL, cp.FEASIBLE):
            return status, None
        days = [sorted(d for d, v in x.items() if solver.boolean_value(v)) for x in self.x]
        return status, self._fill(days)

    def _full(self, day: date, r: SeriesRequest, duration: timedelta, step: timedelta) -> bool:
        """No slot on ``day`` in ``r``'s hours passes the floor's checks, for anyone."""
        anyone = replace(r.rule, min_hours=Decimal(0), max_per_week=None)
        every_day = replace(r.prefs, weekdays=frozenset(range(7)))
        found = _first_slot_on(
            self.floor, day, anyone, every_day, _Timeline(), [], day, duration, step,
            None, None, None,
        )  # fmt: skip
        return found is None

    def _fill(self, chosen: Sequence[Sequence[date]]) -> list[Plan]:
        """Place the chosen days with the greedy checks, then complete with the greedy planner."""
        floor, tz = self.floor, self.floor.tz
        requests = self.requests
        step = timedelta(minutes=self.step_minutes)
        busy = [_Timeline(r.patient_busy) for r in requests]
        starts = [sorted(r.kept_starts) for r in requests]
        placed: list[list[PlannedSession]] = [[] for _ in requests]
        last_room: list[int | None] = [None] * len(requests)
        last_nurse: list[int | None] = [None] * len(requests)
        by_day: dict[date, list[int]] = {}
        for i, days in enumerate(chosen):
            for d in days:
                by_day.setdefault(d, []).append(i)
        held: list[tuple[int, Span, int | None]] = []

        def keep(i: int, span: Span, room: int, nurse: int | None) -> None:
            floor.hold(room, span, treatment=True, nurse=nurse)
            held.append((room, span, nurse))
            busy[i].add(span)
            starts[i] = sorted([*starts[i], span.start])
            last_room[i] = room
            last_nurse[i] = nurse if nurse is not None else last_nurse[i]
            r = requests[i]
            placed[i].append(
                PlannedSession(
                    index=0,
                    start=span.start,
                    end=span.end,
                    room=room,
                    in_window=span.start.astimezone(tz).date()
                    < r.start_date + timedelta(days=r.rule.span_days),
                    nurse=nurse,
                )
            )

        for day in sorted(by_day):
            order = sorted(by_day[day], key=lambda i: (requests[i].prefs.earliest, i))
            for i in order:
                r = requests[i]
                found = _first_slot_on(
                    floor,
                    day,
                    r.rule,
                    r.prefs,
                    busy[i],
                    starts[i],
                    r.start_date,
                    timedelta(minutes=r.rule.chair_minutes),
                    step,
                    r.not_before,
                    last_room[i],
                    last_nurse[i],
                )
                if found is not None:
                    keep(i, *found)
        # Sessions still missing: the greedy planner's search (``plan_series``: each day
        # from the course start, the first slot passing every check), around what is
        # placed. A day with no slot free for anyone (chair, nurse places, a named nurse)
        # in the patient's hours stays full while the floor only fills: remembered.
        full: set[tuple[date, int, time, time]] = set()
        for i, r in enumerate(requests):
            missing = max(r.rule.sessions - len(r.kept_starts), 0) - len(placed[i])
            duration = timedelta(minutes=r.rule.chair_minutes)
            horizon = r.start_date + timedelta(days=r.rule.span_days + self.extra_days)
            day = r.start_date
            if r.not_before is not None:
                day = max(day, r.not_before.astimezone(tz).date())
            while missing > 0 and day < horizon:
                key = (day, r.rule.chair_minutes, r.prefs.earliest, r.prefs.latest_start)
                found = None
                if key not in full:
                    found = _first_slot_on(
                        floor,
                        day,
                        r.rule,
                        r.prefs,
                        busy[i],
                        starts[i],
                        r.start_date,
                        duration,
                        step,
                        r.not_before,
                        last_room[i],
                        last_nurse[i],
                    )
                    if found is None and self._full(day, r, duration, step):
                        full.add(key)
                if found is None:
                    day += timedelta(days=1)
                    continue
                keep(i, *found)
                missing -= 1
        for room, span, nurse in held:
            floor.release(room, span, nurse=nurse)
        return _plans(requests, placed)


# --- chairs and nurses, checked -----------------------------------------------------------


def _assign(
    floor: Floor,
    requests: Sequence[SeriesRequest],
    chosen: Sequence[Sequence[_Slot]],
    home_chairs: Sequence[int | None],
    home_nurses: Sequence[int | None],
) -> list[Plan]:
    """Give each chosen start a chair and a nurse with the floor's own checks, in start order.

    The floor is left as it was. A start that no longer passes is dropped (unplaced).
    """
    order = sorted(
        ((slot.start.astimezone(UTC), i, slot) for i, slots in enumerate(chosen) for slot in slots),
        key=lambda e: (e[0], e[1]),
    )
    last_room: list[int | None] = list(home_chairs)
    last_nurse: list[int | None] = list(home_nurses)
    placed: list[list[PlannedSession]] = [[] for _ in requests]
    held: list[tuple[int, Span, int | None]] = []
    for _, i, slot in order:
        rule = requests[i].rule
        span = Span(slot.start, slot.start + timedelta(minutes=rule.chair_minutes))
        needed, available = floor.nurse_room(span)
        if needed > available:
            continue
        chairs = [r for r in floor.chairs if floor.room_free(r, span)]
        if not chairs:
            continue
        previous = last_room[i]
        room = previous if previous is not None and previous in chairs else chairs[0]
        nurse = floor.free_nurse(span, last_nurse[i]) if floor.rota else None
        if floor.rota and nurse is None:
            continue
        floor.hold(room, span, treatment=True, nurse=nurse)
        held.append((room, span, nurse))
        last_room[i] = room
        last_nurse[i] = nurse if nurse is not None else last_nurse[i]
        window_end = requests[i].start_date + timedelta(days=rule.span_days)
        placed[i].append(
            PlannedSession(
                index=0,
                start=span.start,
                end=span.end,
                room=room,
                in_window=span.start.astimezone(floor.tz).date() < window_end,
                nurse=nurse,
            )
        )
    for room, span, nurse in held:
        floor.release(room, span, nurse=nurse)
    return _plans(requests, placed)
