"""Rate limits shared by every process and host, through Django's cache.

The cache is the database by default (a table made by migrate) and Redis when
KETACLINIC_CACHE_URL is set, so a limit holds however many app processes serve the
clinic. Counts are per fixed window: `limited_after_hit(key, limit, window)` counts one
attempt and says whether the key is over its limit in the current window.

Redis increments atomically. Django's database cache increments by reading and
writing back, so two processes could both read 5 and both write 6; on the database
cache's table the count is one INSERT ... ON CONFLICT DO UPDATE ... RETURNING instead,
atomic on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router
from django.utils import timezone

from ketaclinic.db_writer import one_writer

# The share of new counters that also delete the expired ones (the table only grows else).
TIDY_SHARE = 0.05


def _window_key(key: str, window: int, now: float | None = None) -> str:
    bucket = int((time.time() if now is None else now) // window)
    return f"limit:{key}:{bucket}"


def hit(key: str, window: int, *, cache: BaseCache | None = None) -> int:
    """Count one attempt for `key` in the current window of `window` seconds; returns the count."""
    cache = cache or caches["default"]
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
    cache = cache or caches["default"]
    if isinstance(cache, DatabaseCache):
        return _db_count(cache, _window_key(key, window))
    return int(cache.get(_window_key(key, window), 0))


def limited_after_hit(key: str, limit: int, window: int, *, cache: BaseCache | None = None) -> bool:
    """Count one attempt; True when that makes more than `limit` in the window."""
    return hit(key, window, cache=cache) > limit


def _db_hit(cache: DatabaseCache, full: str, window: int) -> int:
    """One atomic statement: insert the count at 1, or add 1 to it (and say what it is now).

    Django's own `set` would read, write back and count the whole table for culling (a
    dozen statements per request); the key has the window in it, so rows only expire.
    """
    alias = router.db_for_write(cache.cache_model_class)
    connection = connections[alias]
    table = connection.ops.quote_name(cache.cache_model_class._meta.db_table)
    expires = connection.ops.adapt_datetimefield_value(timezone.now() + timedelta(seconds=window))
    with one_writer(alias), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, '1', %s)"  # noqa: S608
            f" ON CONFLICT (cache_key) DO UPDATE SET value ="
            f" CAST(CAST({table}.value AS INTEGER) + 1 AS TEXT) RETURNING value",
            [full, expires],
        )
        value = int(cursor.fetchone()[0])
        if value == 1 and random.random() < TIDY_SHARE:  # noqa: S311 - not security
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(f"DELETE FROM {table} WHERE expires < %s", [now])  # noqa: S608
    return value


def _db_count(cache: DatabaseCache, full: str) -> int:
    connection = connections[router.db_for_read(cache.cache_model_class)]
    table = connection.ops.quote_name(cache.cache_model_class._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {table} WHERE cache_key = %s", [full])  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]) if row else 0
