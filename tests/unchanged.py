"""`nothing_changed()`: a refused request leaves the database exactly as it was.

A denial test that only checks the status code passes even when the write happened before
the refusal. Wrap the refused request in `with nothing_changed(Model, ...):` and the block
fails if any table gained or lost a row (audit events included: a refusal writes none), or
if any field of any row of the named models changed (an update in place keeps the count).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.db.models import Model

# Rows a plain request may touch without changing the clinic's data: the session store
# (the idle-timeout stamp) and the token cache's last-used time.
# The audit trail is counted apart: the door's own events (a token's first use) are not
# the refused action's, and the chain heads follow the events.
IGNORED = {"sessions.session", "audit.auditevent", "audit.auditchain"}
DOOR_ACTIONS = {"token_use", "login"}


def _counts() -> dict[str, int]:
    from ketaclinic.audit.models import AuditEvent

    counts = {
        model._meta.label_lower: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.label_lower not in IGNORED and not model._meta.proxy
    }
    counts["audit events"] = AuditEvent.objects.exclude(action__in=DOOR_ACTIONS).count()
    return counts


# Fields a request stamps without changing anything the clinic sees: an API token's
# last use (written by the door, before the handler refuses).
VOLATILE = {"last_used_at", "last_login"}


def _rows(model: type[Model]) -> list[dict[str, Any]]:
    rows = model._default_manager.order_by("pk").values()
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


def snapshot(*watched: type[Model]) -> tuple[dict[str, int], dict[str, list[dict[str, Any]]]]:
    """Every table's row count, and every value of the `watched` models' rows."""
    return _counts(), {m._meta.label_lower: _rows(m) for m in watched}


@contextmanager
def nothing_changed(*watched: type[Model]) -> Iterator[None]:
    """Fail unless the block leaves every table's count and the `watched` rows unchanged."""
    counts, rows = snapshot(*watched)
    yield
    counts_after, rows_after = snapshot(*watched)
    grew = {k: (counts[k], counts_after[k]) for k in counts if counts[k] != counts_after[k]}
    assert not grew, f"rows were added or removed (table: before, after): {grew}"
    for label, before in rows.items():
        assert rows_after[label] == before, f"a {label} row was changed"
