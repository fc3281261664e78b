"""Several patients' series: CP-SAT chooses the days, the greedy checks fill them. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from ..scheduling import Floor, Plan, Span, spans_for_days
from ..scheduling.floor import _Timeline
from ..scheduling.planner import _first_slot_on
from ..scheduling.rules import _spacing_conflicts
from .candidates import _SolverModel
from .common import SeriesRequest, _kept_per_week, _Placer, _solver
from .day_pack import pack_day

# Seconds for packing one day again (tens of sessions, started from the list schedule).
DAY_SECONDS = 0.3
PACK_SHARE = 0.2  # of the time limit

if TYPE_CHECKING:
    from ortools.sat.python import cp_model


class _DayModel(_SolverModel):
    """Several patients: CP-SAT chooses each session's day, then the day is filled in.

    A model with every start time (``_Model``) is too large for a clinic-month in a few
    seconds, so the solver decides days only: each patient's sessions on usable days
    (their weekdays, the clinic open, a slot the floor allows), no two closer than the
    protocol's interval in whole days, at most ``max_per_week`` a course week, and each
    day's chair time (and nurse places) not overbooked, also counting only the time
    after each patient's earliest start (the nested windows of the day), in minutes and
    in sessions (a chair holds five 100-minute sessions in ten hours, not six). Then each
    day, in order, the chosen sessions get the first free slot with the greedy planner's
    own checks (list scheduling); a day where some do not fit is packed again exactly
    (``day_pack``) and kept when more fit; a session that does not fit, or a patient
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
        super().__init__(floor, requests, step_minutes, extra_days)
        self.step_minutes = step_minutes
        self.pack_seconds = 0.0  # left for packing days again (``_repack``)
        self.extra_days = extra_days
        self.greedy = greedy
        self.x: list[dict[date, cp_model.IntVar]] = [{} for _ in requests]

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

    def _build(self) -> None:
        m, floor = self.model, self.floor
        tz = floor.tz
        # Days inside the window only: the most sessions there (measured: preferring earlier
        # days as well placed fewer). Sessions it leaves out are placed at the end by the
        # greedy planner (late if need be).
        in_window: list[cp_model.LinearExprT] = []
        load: dict[date, list[tuple[int, int, cp_model.IntVar]]] = {}
        for i, r in enumerate(self.requests):
            to_place = max(r.rule.sessions - len(r.kept_starts), 0)
            x = {d: m.new_bool_var(f"x{i}_{d:%m%d}") for d in self._usable(r)} if to_place else {}
            self.x[i] = x
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
                kept_weeks = _kept_per_week(r, floor)
                for week, chosen in weeks.items():
                    room = r.rule.max_per_week - kept_weeks.get(week, 0)
                    if len(chosen) > room:
                        m.add(sum(chosen) <= max(room, 0))
            earliest = r.prefs.earliest.hour * 60 + r.prefs.earliest.minute
            # Chair time on the start grid: a 100-minute session holds its chair until
            # the next start 105 minutes on (15-minute steps).
            held = math.ceil(r.rule.chair_minutes / self.step_minutes) * self.step_minutes
            for d, var in x.items():
                in_window.append(var)
                load.setdefault(d, []).append((earliest, held, var))
        shortest = min(r.rule.chair_minutes for r in self.requests)
        for d, sessions in load.items():
            for cut in sorted({e for e, _, _ in sessions}):
                later = [(minutes, var) for e, minutes, var in sessions if e >= cut]
                minutes_free, places = self._capacity(d, cut, shortest)
                m.add(sum(minutes * var for minutes, var in later) <= minutes_free)
                # A 10-hour chair-day holds five 100-minute sessions, not six: the
                # minutes alone overbook the day and the filling then pushes sessions late.
                if len(later) > places:
                    m.add(sum(var for _, var in later) <= places)
        m.maximize(sum(in_window))
        for i, plan in enumerate(self.greedy):
            days = {s.start.astimezone(tz).date() for s in plan.sessions}
            for d, var in self.x[i].items():
                m.add_hint(var, d in days)

    def _capacity(self, day: date, cut: int, shortest: int) -> tuple[int, int]:
        """Chair-minutes free on ``day`` from ``cut`` (local minute) to closing, at most
        the nurse place-minutes then; and how many sessions of ``shortest`` minutes fit
        then, chair by chair on the start grid (at most as many as nurse places)."""
        floor = self.floor
        held = math.ceil(shortest / self.step_minutes) * self.step_minutes

        def fits(minutes: float) -> int:  # sessions one after another in a free stretch
            return 0 if minutes < shortest else int((minutes - shortest) // held) + 1

        total = count = 0
        for opening in spans_for_days([day], floor.tz, floor.opening):
            start = max(
                opening.start,
                datetime.combine(day, time(0), tzinfo=floor.tz) + timedelta(minutes=cut),
            )
            if start >= opening.end:
                continue
            window = Span(start, opening.end)
            minutes = int((window.end - window.start).total_seconds() // 60)
            chairs = chair_count = 0
            for room in floor.chairs:
                taken = floor.busy.get(room, _Timeline()).overlapping(window)
                free = max(minutes - int(sum(_minutes(s, window) for s in taken)), 0)
                # The last session of the chair needs no rounding up to the grid.
                chairs += free + (self.step_minutes - 1 if free else 0)
                edges = [window.start, *(t for s in taken for t in (s.start, s.end)), window.end]
                chair_count += sum(
                    fits((min(b, window.end) - max(a, window.start)).total_seconds() // 60)
                    for a, b in zip(edges[::2], edges[1::2], strict=True)
                )
            shifts = [s for s in floor._shifts.overlapping(window)]
            treatments = floor.treatments.overlapping(window)
            places = sum(_minutes(s, window) for s in shifts) * floor.nurse_capacity - sum(
                _minutes(s, window) for s in treatments
            )
            places += len(shifts) * floor.nurse_capacity * (self.step_minutes - 1)
            nurse_count = sum(
                fits(_minutes(s, window)) for s in shifts
            ) * floor.nurse_capacity - len(treatments)
            total += min(chairs, int(places))
            count += min(chair_count, nurse_count) if shifts else chair_count
        return max(total, 0), max(count, 0)

    def solve(self, time_limit: float) -> tuple[str, list[Plan] | None]:
        self._build()
        if not any(self.x):
            return "NOTHING_TO_PLACE", None
        # What is left of the time after choosing the days packs the days that list
        # scheduling cannot (``_repack``).
        self.pack_seconds = time_limit * PACK_SHARE
        solver = _solver(time_limit - self.pack_seconds)
        # Measured on the clinic-month: probing and symmetry cost seconds of presolve
        # and found nothing; the large-neighbourhood search is what improves the plan.
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.symmetry_level = 0
        # Two workers under a wall-clock limit: the plan can differ between runs when the
        # limit ends the search (measured: one worker under a deterministic limit is
        # repeatable but places fewer sessions in the same time).
        status, found = self._run(solver)
        if not found:
            return status, None
        chosen = [sorted(d for d, v in x.items() if solver.boolean_value(v)) for x in self.x]
        placer = _Placer(self.floor, self.requests, self.step_minutes)
        self._place(placer, chosen)
        return status, self._complete(placer)

    def _full(self, day: date, r: SeriesRequest, duration: timedelta, step: timedelta) -> bool:
        """No slot on ``day`` in ``r``'s hours passes the floor's checks, for anyone."""
        anyone = replace(r.rule, min_hours=Decimal(0), max_per_week=None)
        every_day = replace(r.prefs, weekdays=frozenset(range(7)))
        found = _first_slot_on(
            self.floor, day, anyone, every_day, _Timeline(), [], day, duration, step,
            None, None, None,
        )  # fmt: skip
        return found is None

    def _release(self, placer: _Placer, i: int, day: date) -> tuple[bool, int]:
        """Whether the spacing since the last session bounds request ``i``'s start on ``day``
        (then it goes first, to keep the time it had), and the earliest local minute."""
        r = self.requests[i]
        release = r.prefs.earliest.hour * 60 + r.prefs.earliest.minute
        if r.rule.min_hours is not None and placer.starts[i]:
            after = placer.starts[i][-1] + timedelta(hours=float(r.rule.min_hours))
            local = after.astimezone(self.floor.tz)
            if local.date() == day:
                return False, max(release, local.hour * 60 + local.minute)
        return True, release

    def _place(self, placer: _Placer, chosen: Sequence[Sequence[date]]) -> None:
        """Place the chosen days with the greedy checks, day by day (held on the floor)."""
        requests = self.requests
        by_day: dict[date, list[int]] = {}
        for i, days in enumerate(chosen):
            for d in days:
                by_day.setdefault(d, []).append(i)
        for day in sorted(by_day):
            # List scheduling: first the sessions whose earliest time is set by the spacing
            # since the patient's last one (so they keep that time and the series does not
            # drift later each session), then earliest possible start, longer first.
            order = sorted(
                by_day[day],
                key=lambda i: (self._release(placer, i, day), -requests[i].rule.chair_minutes, i),
            )
            self._list_schedule(placer, day, order)
            left = [i for i in order if i not in self._today(placer, day)]
            if left and self.pack_seconds > 0:
                self._repack(placer, day, order, len(order) - len(left))

    def _today(self, placer: _Placer, day: date) -> dict[int, int]:
        """The requests with a session on ``day``, and its local start minute."""
        tz = self.floor.tz
        found = {}
        for i, sessions in enumerate(placer.placed):
            if sessions and sessions[-1].start.astimezone(tz).date() == day:
                local = sessions[-1].start.astimezone(tz)
                found[i] = local.hour * 60 + local.minute
        return found

    def _list_schedule(self, placer: _Placer, day: date, order: Sequence[int]) -> None:
        for i in order:
            found = placer.first_slot(i, day)
            if found is not None:
                placer.keep(i, *found)

    def _repack(self, placer: _Placer, day: date, order: Sequence[int], listed: int) -> None:
        """Pack ``day`` again with CP-SAT from the list schedule; keep it if more fit."""
        tz = self.floor.tz
        hint = self._today(placer, day)
        for i in hint:
            placer.undo(i)
        packed, seconds = pack_day(placer, day, order, hint, min(self.pack_seconds, DAY_SECONDS))
        self.solver_seconds += seconds
        self.pack_seconds -= DAY_SECONDS
        if len(packed) <= listed:
            self._list_schedule(placer, day, order)
            return
        for minute, i in packed:
            start = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
            span = Span(start, start + timedelta(minutes=self.requests[i].rule.chair_minutes))
            if not placer.keep_at(i, span):
                found = placer.first_slot(i, day)
                if found is not None:
                    placer.keep(i, *found)

    def _complete(self, placer: _Placer) -> list[Plan]:
        """Complete every request with the greedy planner's search, then release the floor."""
        tz = self.floor.tz
        requests = self.requests
        step = timedelta(minutes=self.step_minutes)
        # Sessions still missing: the greedy planner's search (``plan_series``: each day
        # from the course start, the first slot passing every check), around what is
        # placed. A day with no slot free for anyone (chair, nurse places, a named nurse)
        # in the patient's hours stays full while the floor only fills: remembered.
        full: set[tuple[date, int, time, time]] = set()
        for i, r in enumerate(requests):
            missing = max(r.rule.sessions - len(r.kept_starts), 0) - len(placer.placed[i])
            duration = timedelta(minutes=r.rule.chair_minutes)
            horizon = r.start_date + timedelta(days=r.rule.span_days + self.extra_days)
            day = r.start_date
            if r.not_before is not None:
                day = max(day, r.not_before.astimezone(tz).date())
            while missing > 0 and day < horizon:
                key = (day, r.rule.chair_minutes, r.prefs.earliest, r.prefs.latest_start)
                found = None
                if key not in full:
                    found = placer.first_slot(i, day)
                    if found is None and self._full(day, r, duration, step):
                        full.add(key)
                if found is None:
                    day += timedelta(days=1)
                    continue
                placer.keep(i, *found)
                missing -= 1
        return placer.finish()


def _minutes(span: Span, window: Span) -> float:
    """Minutes of ``span`` inside ``window``."""
    return max((min(span.end, window.end) - max(span.start, window.start)).total_seconds(), 0) / 60
