"""The one call a service makes when a write may change what is derived from a patient's record.

Apps below (measures, scheduling, treatment) and this one call `patient_changed`; apps
above that keep derived rows (the outcomes app's per-patient outcome rows) register a
listener when they load. The dependency points the right way: the writers never import
the readers that derive from them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.db import transaction

Listener = Callable[[list[int]], object]
_listeners: list[Listener] = []


def on_patient_change(listener: Listener) -> None:
    """Call `listener(patient_ids)` after each transaction that changed those patients."""
    if listener not in _listeners:
        _listeners.append(listener)


def patient_changed(patient_id: int) -> None:
    """Tell the listeners once the current transaction commits.

    After the commit, so derived rows never describe a write that was rolled back; robust,
    so a failed refresh never fails the clinical write (each listener's backfill repairs it).
    """
    for listener in _listeners:
        transaction.on_commit(partial(listener, [patient_id]), robust=True)
