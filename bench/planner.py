"""Series planner on a busy month: 12 chairs, 300 patients starting induction in the same month.

Greedy: plans each patient's whole induction series in turn (earliest feasible slot, the
pure planner the app falls back to), holding each series on the floor before the next.
CP-SAT: plans all of them together (``plan_many``, OR-Tools CP-SAT, time-limited, started
from the greedy plan), then gives chairs and nurses with the floor's own checks.
Every session gets a named nurse who is free for all of it (capacity 2 patients each).
Prints, for greedy and CP-SAT, the time to plan, the share of sessions placed inside
their protocol windows, and the chair moves and nurse changes between a patient's
consecutive sessions, once per nurse count: by default 6 nurses (6 x 2 = 12 places, as many as chairs, so the
chairs bind) and 4 nurses (8 places for 12 chairs, so the nurses bind).

Run: .venv/bin/python bench/planner.py [--patients 300] [--chairs 12] [--nurses 6,4] [--seed 1]
         [--time-limit 4]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time as clock
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ketaclinic.clinical.protocols import load_protocols  # noqa: E402
from ketaclinic.clinical.scheduling import (  # noqa: E402
    Floor,
    Plan,
    Preferences,
    SeriesRule,
    Span,
    plan_series,
    series_rule,
    spans_for_days,
)
from ketaclinic.clinical.scheduling_cpsat import (  # noqa: E402
    SeriesRequest,
    continuity,
    plan_many,
)

TZ = ZoneInfo("America/New_York")
OPEN = {d: [(time(8), time(18))] for d in range(5)}  # Mon-Fri 08-18
MIX = [("ketamine-iv-mood", 0.7), ("esketamine-nasal", 0.3)]
CAPACITY = 2  # patients per nurse (the clinic default)
MONTH = date(2027, 3, 1)
DAYS = [MONTH + timedelta(days=i) for i in range(120)]

Request = tuple[str, date, Preferences]


def requests(count: int, seed: int) -> list[Request]:
    """The patients: protocol, start date in March, and their days and times."""
    rng = random.Random(seed)
    workdays = [d for d in DAYS[:31] if d.weekday() < 5]
    patients = []
    for _ in range(count):
        code = rng.choices([c for c, _ in MIX], weights=[w for _, w in MIX])[0]
        weekdays = frozenset(rng.sample(range(5), rng.choice([3, 4, 5])))
        earliest = time(rng.choice([8, 8, 9, 10, 12]))
        prefs = Preferences(weekdays=weekdays, earliest=earliest, latest_start=time(16, 30))
        patients.append((code, rng.choice(workdays), prefs))
    patients.sort(key=lambda p: p[1])  # requests arrive roughly in start order
    return patients


def build_floor(chairs: int, nurses: int) -> Floor:
    shifts = spans_for_days(DAYS, TZ, OPEN)
    return Floor.build(
        tz=TZ,
        opening=OPEN,
        chairs=list(range(1, chairs + 1)),
        nurse_capacity=CAPACITY,
        rota={nurse: shifts for nurse in range(1, nurses + 1)},
    )


def run(
    patients: list[Request], rules: dict[str, SeriesRule], chairs: int, nurses: int
) -> list[Plan]:
    floor = build_floor(chairs, nurses)
    timings = []
    plans = []
    total = inside = unplaced = 0
    started = clock.perf_counter()
    for code, start, prefs in patients:
        t0 = clock.perf_counter()
        plan = plan_series(floor, rule=rules[code], prefs=prefs, start_date=start, hold=True)
        timings.append(clock.perf_counter() - t0)
        plans.append(plan)
        total += rules[code].sessions
        inside += plan.placed_in_window
        unplaced += plan.unplaced
    elapsed = clock.perf_counter() - started

    chair_minutes = sum(
        (s.end - s.start).total_seconds() / 60 for t in floor.busy.values() for s in t.spans
    )
    per_nurse = sorted(len(t.spans) for t in floor.nurse_load.values())
    binding = "nurses bind" if nurses * CAPACITY < chairs else "chairs bind"
    print(
        f"clinic: {chairs} chairs, {nurses} nurses x {CAPACITY} patients = "
        f"{nurses * CAPACITY} places ({binding}), open Mon-Fri 08-18"
    )
    print(f"  sessions requested: {total}")
    print(
        f"  time to plan all: {elapsed:.2f} s "
        f"(per patient median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95)] * 1000:.1f} ms)"
    )
    print(f"  placed inside their window: {inside}/{total} = {inside / total:.1%}")
    print(f"  placed late (outside window): {total - inside - unplaced}; unplaced: {unplaced}")
    last_window = max(start + timedelta(days=rules[code].span_days) for code, start, _ in patients)
    open_days = [d for d in DAYS if d < last_window and d.weekday() < 5]
    capacity = len(open_days) * 10 * chairs
    print(
        f"  chair hours booked: {chair_minutes / 60:.0f} "
        f"(open chair hours from {MONTH} to the last window end {last_window}: {capacity})"
    )
    print(f"  sessions per nurse: {per_nurse[0]}-{per_nurse[-1]}")
    moves, changes = (sum(c) for c in zip(*(continuity(p) for p in plans), strict=True))
    print(f"  chair moves: {moves}; nurse changes: {changes}")
    return plans


def run_cpsat(
    patients: list[Request],
    rules: dict[str, SeriesRule],
    chairs: int,
    nurses: int,
    greedy: list[Plan],
    time_limit: float,
) -> None:
    floor = build_floor(chairs, nurses)
    requests = [
        SeriesRequest(rule=rules[code], prefs=prefs, start_date=start)
        for code, start, prefs in patients
    ]
    started = clock.perf_counter()
    result = plan_many(floor, requests, time_limit=time_limit, greedy=greedy)
    elapsed = clock.perf_counter() - started
    total = sum(rules[code].sessions for code, _, _ in patients)
    inside = result.in_window
    unplaced = sum(p.unplaced for p in result.plans)
    moves, changes = (sum(c) for c in zip(*(continuity(p) for p in result.plans), strict=True))
    print(
        f"  CP-SAT ({result.solver}, {result.status}, limit {time_limit:g} s): "
        f"{elapsed:.2f} s after the greedy plan"
    )
    print(f"    placed inside their window: {inside}/{total} = {inside / total:.1%}")
    print(f"    placed late (outside window): {total - inside - unplaced}; unplaced: {unplaced}")
    print(f"    chair moves: {moves}; nurse changes: {changes}")
    check(floor, result.plans, rules, patients)


def check(floor: Floor, plans, rules, patients) -> None:
    """Re-check every planned session with the booking checks (a benchmark that lies is worse)."""
    from ketaclinic.clinical.scheduling import slot_conflicts

    bad = 0
    for plan, (code, start, _) in zip(plans, patients, strict=True):
        starts = []
        for s in sorted(plan.sessions, key=lambda s: s.start):
            span = Span(s.start, s.end)
            found = slot_conflicts(
                floor,
                room=s.room,
                span=span,
                treatment=True,
                rule=rules[code],
                course_starts=starts,
                course_anchor=start,
            )
            bad += bool(found)
            starts.append(s.start)
            floor.hold(s.room, span, treatment=True, nurse=s.nurse)
    print(f"    sessions failing a booking check when re-checked: {bad}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--chairs", type=int, default=12)
    parser.add_argument(
        "--nurses", default="6,4", help="nurse counts to compare, comma-separated (default 6,4)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=4.0, help="CP-SAT seconds")
    args = parser.parse_args()
    protocols = load_protocols()
    rules = {code: series_rule(protocols[code]) for code, _ in MIX}
    patients = requests(args.patients, args.seed)
    print(
        f"patients: {args.patients} starting induction in March 2027 "
        f"({', '.join(f'{int(w * 100)}% {c}' for c, w in MIX)})"
    )
    for nurses in (int(n) for n in args.nurses.split(",")):
        greedy = run(patients, rules, args.chairs, nurses)
        run_cpsat(patients, rules, args.chairs, nurses, greedy, args.time_limit)
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
