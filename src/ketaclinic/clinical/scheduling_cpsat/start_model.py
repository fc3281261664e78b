"""One patient's series with every start time: the CP-SAT model and its chairs. Pure.

The app's proposal for one course (see the package docstring for the objective).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from ..scheduling import Floor, Plan, Span
from .candidates import _Slot, _SolverModel
from .common import SeriesRequest, _kept_per_week, _Placer, _solver

if TYPE_CHECKING:
    from ortools.sat.python import cp_model


class _Model(_SolverModel):
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
        super().__init__(floor, requests, step_minutes, extra_days)
        self.slots = [self.candidates.slots(r) for r in requests]
        self.by_minute = [{s.minute: s for s in slots} for slots in self.slots]
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
        for week, count in _kept_per_week(r, self.floor).items():
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
        if not any(self.starts):
            return "NOTHING_TO_PLACE", [[] for _ in self.requests]
        solver = _solver(time_limit)
        status, found = self._run(solver)
        if not found:
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
    placer = _Placer(floor, requests, rooms=home_chairs, nurses=home_nurses)
    for _, i, slot in order:
        rule = requests[i].rule
        span = Span(slot.start, slot.start + timedelta(minutes=rule.chair_minutes))
        needed, available = floor.nurse_room(span)
        if needed > available:
            continue
        chairs = [r for r in floor.chairs if floor.room_free(r, span)]
        if not chairs:
            continue
        previous = placer.last_room[i]
        room = previous if previous is not None and previous in chairs else chairs[0]
        nurse = floor.free_nurse(span, placer.last_nurse[i]) if floor.rota else None
        if floor.rota and nurse is None:
            continue
        placer.keep(i, span, room, nurse)
    return placer.finish()
