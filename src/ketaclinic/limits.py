"""Rate limits shared by every process and host, through Django's cache.

The cache is the database by default (a table made by migrate) and Redis when
KETACLINIC_CACHE_URL is set, so a limit holds however many app processes serve the
clinic. Counts are per fixed window: `limited_after_hit(key, limit, window)` counts one
attempt and says whether the key is over its limit in the current window.

Redis increments atomically. Django's database cache increments by reading and
writing back, so two processes could both read 5 and both write 6; here the
increment runs in a transaction that first takes a lock on the key (PostgreSQL:
an advisory lock; SQLite: transactions already take the write lock at BEGIN).
"""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache as default_cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction


def _window_key(key: str, window: int, now: float | None = None) -> str:
    bucket = int((time.time() if now is None else now) // window)
    return f"limit:{key}:{bucket}"


def hit(key: str, window: int, *, cache: BaseCache | None = None) -> int:
    """Count one attempt for `key` in the current window of `window` seconds; returns the count."""
    cache = cache or default_cache
    full = _window_key(key, window)
    if isinstance(cache, DatabaseCache):
        return _db_hit(cache, full, window)
    cache.add(full, 0, window)
    try:
        return int(cache.incr(full))
    except ValueError:  # evicted between add and incr
        cache.set(full, 1, window)
        return 1


def count(key: str, window: int, *, cache: BaseCache | None = None) -> int:
    """Attempts counted for `key` in the current window (without counting one)."""
    return int((cache or default_cache).get(_window_key(key, window), 0))


def limited_after_hit(key: str, limit: int, window: int, *, cache: BaseCache | None = None) -> bool:
    """Count one attempt; True when that makes more than `limit` in the window."""
    return hit(key, window, cache=cache) > limit


def _db_hit(cache: DatabaseCache, full: str, window: int) -> int:
    alias = router.db_for_write(cache.cache_model_class)
    connection = connections[alias]
    with transaction.atomic(using=alias):
        if connection.vendor == "postgresql":
            lock = int.from_bytes(hashlib.sha256(full.encode()).digest()[:8], "big", signed=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock])
        value = int(cache.get(full, 0)) + 1
        cache.set(full, value, window)
        return value
