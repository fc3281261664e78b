"""Job leases: several workers against one database behave as one.

Every job of the worker runs under a lease on its name. The first worker to take a lease
keeps it (renewing it on each run) while it lives; the others skip that job. When the
holder stops, its lease runs out after `seconds` and another worker takes the job over.
The lease is one conditional UPDATE (or the INSERT that creates the row), so two workers
can never both win it, on SQLite or PostgreSQL.

On top of the lease, each job still claims its own items once (an alert's notified_at, an
appointment's reminded_at, a schedule's next due time, an export's status): a job that
outlives its lease, or a request that sends the same e-mail on commit, still sends once.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ketaclinic.worker.models import JobLease

# This process, as other workers see it (host and pid for an operator; a nonce for restarts).
HOLDER = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

DEFAULT_SECONDS = 90.0
# Jobs that may run longer than the default lease keep theirs longer.
SECONDS = {
    "daily_backup": 3 * 3600.0,
    "verify_ledger_nightly": 3600.0,
    "remind_inventories": 900.0,
}


def lease_seconds(name: str) -> float:
    return SECONDS.get(name, DEFAULT_SECONDS)


def claim(name: str, holder: str = HOLDER, seconds: float | None = None) -> bool:
    """True when `holder` holds the lease on `name` now (taken or renewed) for `seconds`."""
    now = timezone.now()
    until = now + timedelta(seconds=lease_seconds(name) if seconds is None else seconds)
    taken = (
        JobLease.objects.filter(name=name)
        .filter(Q(holder=holder) | Q(until__lte=now))
        .update(holder=holder, until=until)
    )
    if taken:
        return True
    if JobLease.objects.filter(name=name).exists():
        return False
    try:
        with transaction.atomic():
            JobLease.objects.create(name=name, holder=holder, until=until)
    except IntegrityError:
        return False  # another worker created it first
    return True


def release(name: str, holder: str = HOLDER) -> None:
    """Give the lease up at once (a worker stopping cleanly), so another takes over now."""
    JobLease.objects.filter(name=name, holder=holder).update(until=timezone.now())


def holders() -> dict[str, tuple[str, object]]:
    """name -> (holder, until), for the admin page and tests."""
    return {lease.name: (lease.holder, lease.until) for lease in JobLease.objects.all()}
