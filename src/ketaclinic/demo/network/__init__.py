"""A clinic network of realistic size, for benchmarks: `python -m ketaclinic generate_network`.

Every row is written straight into its table (COPY on PostgreSQL, executemany on SQLite),
with explicit ids, and the sequences moved past them at the end. The data is valid the
way the application's own writes are: discharged sessions with their appointment,
administration and vital signs; questionnaire responses scored by the instruments;
a Schedule III ledger whose entries are hashed and chained per lot, each vouched by its
audit event; and an audit trail numbered, linked and sealed per clinic, its seal heads
written to the anchor file, so `verify_audit` and `verify_ledger` pass on it.

Nothing here is a real person: names come from short lists, ids are synthetic.

The parts: ``state`` (sizes, ids), ``tables`` (the columns and the fast writes),
``clinics`` (one clinic's rows) and ``audit_trail`` (its sealed audit events).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction

from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.models import AuditEvent
from ketaclinic.audit.services import seal_pending
from ketaclinic.inventory.models import LedgerEntry

from .clinics import _clinic, _instruments, _one_clinic
from .state import MODELS, Ids, Sizes
from .tables import (
    Progress,
    _fast_load,
    _indexes_later,
    _tables,
    fix_sequences,
    next_id,
)

__all__ = ["Sizes", "generate"]


def generate(
    sizes: Sizes, *, seed: int = 13, out: Any = None, sealed: bool = True
) -> dict[str, float]:
    """Build the network; returns seconds per stage."""
    out = out or sys.stderr
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    first_clinic = Clinic.objects.filter(slug__startswith="network-").count()
    states = [_clinic(first_clinic + n) for n in range(sizes.clinics)]
    seal_pending()  # the chains we extend start from sealed heads
    ids = Ids({m: next_id(m) for m in MODELS})
    tables = _tables(now)
    instruments = _instruments()
    total = sizes.patients + 2 * sizes.sessions + sizes.vitals + sizes.responses + sizes.audit
    bar = Progress("rows", total, out)
    bars = dict.fromkeys(("patients", "sessions", "vitals", "responses", "ledger", "audit"), bar)
    # Ledger entries and audit events are numbered across clinics as they would be written
    # (the clinics' ids interleave: k-th of clinic n = base + k * clinics + n), so the
    # planner sees the real mix, not one clinic's block after another.
    per_clinic = -(-sizes.sessions // sizes.clinics)
    ledger_bound = per_clinic + per_clinic // 500 + 2
    audit_bound = max(-(-sizes.audit // sizes.clinics), ledger_bound)
    stride = {
        LedgerEntry: ids.take(LedgerEntry, sizes.clinics * ledger_bound),
        AuditEvent: ids.take(AuditEvent, sizes.clinics * audit_bound),
    }
    with _indexes_later(MODELS, out):
        for n, state in enumerate(states):
            with transaction.atomic():
                _fast_load()
                _one_clinic(
                    n, state, sizes, rng, now, ids, tables, instruments, bars, sealed, stride
                )
        timings["rows"] = bar.close()
    fix_sequences(*MODELS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    timings["total"] = time.perf_counter() - started
    return timings
