"""Series planner on a busy month: 12 chairs, 300 patients starting induction in the same month.

Plans each patient's whole induction series in turn (greedy earliest feasible slot, the
same pure planner the API uses), holding each series on the floor before the next.
Prints the time to plan and the share of sessions placed inside their protocol windows.

Run: .venv/bin/python bench/planner.py [--patients 300] [--chairs 12] [--nurses 6] [--seed 1]
"""

from __future__ import annotations

import argparse
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
    Preferences,
    plan_series,
    series_rule,
    spans_for_days,
)

TZ = ZoneInfo("America/New_York")
OPEN = {d: [(time(8), time(18))] for d in range(5)}  # Mon-Fri 08-18
MIX = [("ketamine-iv-mood", 0.7), ("esketamine-nasal", 0.3)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--chairs", type=int, default=12)
    parser.add_argument("--nurses", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    protocols = load_protocols()
    rules = {code: series_rule(protocols[code]) for code, _ in MIX}

    month = date(2027, 3, 1)
    days = [month + timedelta(days=i) for i in range(120)]
    floor = Floor.build(
        tz=TZ,
        opening=OPEN,
        chairs=list(range(1, args.chairs + 1)),
        nurse_shifts=spans_for_days(days, TZ, OPEN) * args.nurses,
        nurse_capacity=2,
    )
    workdays = [d for d in days[:31] if d.weekday() < 5]
    patients = []
    for _ in range(args.patients):
        code = rng.choices([c for c, _ in MIX], weights=[w for _, w in MIX])[0]
        weekdays = frozenset(rng.sample(range(5), rng.choice([3, 4, 5])))
        earliest = time(rng.choice([8, 8, 9, 10, 12]))
        prefs = Preferences(weekdays=weekdays, earliest=earliest, latest_start=time(16, 30))
        patients.append((code, rng.choice(workdays), prefs))
    patients.sort(key=lambda p: p[1])  # requests arrive roughly in start order

    timings = []
    total = inside = unplaced = 0
    started = clock.perf_counter()
    for code, start, prefs in patients:
        t0 = clock.perf_counter()
        plan = plan_series(floor, rule=rules[code], prefs=prefs, start_date=start, hold=True)
        timings.append(clock.perf_counter() - t0)
        total += rules[code].sessions
        inside += plan.placed_in_window
        unplaced += plan.unplaced
    elapsed = clock.perf_counter() - started

    chair_minutes = sum(
        (s.end - s.start).total_seconds() / 60 for t in floor.busy.values() for s in t.spans
    )
    print(f"clinic: {args.chairs} chairs, {args.nurses} nurses x 2 patients, open Mon-Fri 08-18")
    print(
        f"patients: {args.patients} starting induction in March 2027 "
        f"({', '.join(f'{int(w * 100)}% {c}' for c, w in MIX)})"
    )
    print(f"sessions requested: {total}")
    print(
        f"time to plan all: {elapsed:.2f} s "
        f"(per patient median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95)] * 1000:.1f} ms)"
    )
    print(f"placed inside their window: {inside}/{total} = {inside / total:.1%}")
    print(f"placed late (outside window): {total - inside - unplaced}; unplaced: {unplaced}")
    last_window = max(start + timedelta(days=rules[code].span_days) for code, start, _ in patients)
    open_days = [d for d in days if d < last_window and d.weekday() < 5]
    capacity = len(open_days) * 10 * args.chairs
    print(
        f"chair hours booked: {chair_minutes / 60:.0f} "
        f"(open chair hours from {month} to the last window end {last_window}: {capacity})"
    )


if __name__ == "__main__":
    main()
