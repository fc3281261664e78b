"""One writer at a time per process on SQLite, queued in Python rather than in SQLite's sleeps.

SQLite has one write lock, and a thread that finds it taken sleeps in steps of up to
100 ms before it looks again: under load the lock then sits idle between sleepers. The
frequent small writes (a vital-signs reading, an API rate-limit count) take this lock
around their transaction, so the threads of one process queue here instead and are woken
the moment it is free. On PostgreSQL it is a no-op: rows lock there, not the database.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext

from django.db import connections

# Re-entrant: a writer that counts a rate limit inside its own write must not wait on itself.
_sqlite_writer = threading.RLock()


def one_writer(using: str = "default") -> AbstractContextManager[object]:
    return _sqlite_writer if connections[using].vendor == "sqlite" else nullcontext()
