"""Sealing and verifying the audit log: events per second, full and incremental.

Builds N unsealed audit events over 5 clinics with the network generator (each numbered
and linked as the application writes them), then times `seal_pending` (the worker's
job), a full verification (`verify_audit --full`), and an incremental one after 1 % more
events (the routine run). Goal (issue #13): at least 50,000 events/s on PostgreSQL, so
10 M events verify in under 5 minutes. The machine's load average is printed with each
figure: on a shared machine the wall time includes other people's work.

Run: .venv/bin/python bench/audit_verify.py [events]   (DATABASE_URL=postgres://... for PostgreSQL)
"""

from __future__ import annotations

import io
import os
import sys
import time

from _setup import django_on_scratch_db

django_on_scratch_db()

from django.db import connection  # noqa: E402

from ketaclinic.audit import verification  # noqa: E402
from ketaclinic.audit.services import anchored_heads, seal_pending  # noqa: E402
from ketaclinic.demo.network import Sizes, generate  # noqa: E402

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def timed(what: str, count_of, run) -> None:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    count = count_of(result)
    print(
        f"  {what:<28} {count:>10,} events {wall:7.1f} s  {count / wall:>9,.0f}/s wall"
        f"  ({count / max(cpu, 1e-9):>9,.0f}/s per Python CPU second)  [{load()}]"
    )


def sizes(events: int, clinics: int) -> Sizes:
    return Sizes(clinics=clinics, patients=clinics * 100, sessions=0, vitals=0, responses=0,
                 audit=events)  # fmt: skip


print(f"{connection.vendor}: {EVENTS:,} audit events over 5 clinics [{load()}]")
generate(sizes(EVENTS, 5), sealed=False, out=io.StringIO())
timed("seal_pending", lambda n: n, seal_pending)


def verify(full: bool):  # type: ignore[no-untyped-def]
    return lambda: verification.verify(anchored_heads(), full=full)


def checked(result):  # type: ignore[no-untyped-def]
    assert not result.problems, result.problems[:3]
    return result.events


timed("verify --full", checked, verify(True))
generate(sizes(EVENTS // 100, 1), sealed=False, out=io.StringIO())
seal_pending()
timed("verify (incremental, +1 %)", checked, verify(False))
