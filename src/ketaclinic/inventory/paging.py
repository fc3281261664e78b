"""Keyset paging for the ledger: a page is found by the id it starts after, never OFFSET.

An OFFSET page reads and throws away every newer entry first, so the hundredth page of
a busy clinic's ledger costs a hundred pages; a keyset page reads its own rows from the
(clinic, id) index whatever its position. Links carry `before=<id>` (older) or
`after=<id>` (newer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet


@dataclass(frozen=True)
class Page:
    object_list: list[Any]
    newer: int | None  # ?after= for the page of newer entries, None when there is none
    older: int | None  # ?before= for the page of older entries, None when there is none


def _key(value: str | None) -> int | None:
    """An id from the query string; anything else (empty, text, negative) means none."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def newest_first(
    entries: QuerySet[Any], *, before: str | None, after: str | None, size: int
) -> Page:
    """One page of `entries`, newest first: the newest, or those older than `before`, or the
    `size` entries just newer than `after`. Three queries at most, at any depth."""
    start, end = _key(before), _key(after)
    if end is not None and start is None:
        rows = list(entries.filter(id__gt=end).order_by("id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        older = rows[-1].pk if rows and entries.filter(id__lt=rows[-1].pk).exists() else None
        return Page(rows, rows[0].pk if more_newer else None, older)
    newest = entries.order_by("-id")
    if start is not None:
        newest = newest.filter(id__lt=start)
    rows = list(newest[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    newer = (
        rows[0].pk
        if rows and start is not None and entries.filter(id__gt=rows[0].pk).exists()
        else None
    )
    return Page(rows, newer, rows[-1].pk if more_older else None)


def mark_corrected(entries: list[Any]) -> None:
    """Mark which of a page's entries a later entry reverses: one lookup on the
    `corrects` index for the page, not a scan of the ledger."""
    from ketaclinic.inventory.models import LedgerEntry

    ids = [e.pk for e in entries]
    reversed_ids = set(
        LedgerEntry.objects.filter(corrects_id__in=ids).values_list("corrects_id", flat=True)
    )
    for entry in entries:
        entry.__dict__["corrected"] = entry.pk in reversed_ids
