"""What the ledger needs from the treatment app, registered by it at start-up.

The ledger sits below treatment and does not import it; a dose or waste entry names its
session by id (`session_ref`), and treatment answers whose session that is
(treatment/providers.py, registered in TreatmentConfig.ready).
"""

from __future__ import annotations

from collections.abc import Callable

# (clinic id, session id, lock=) -> the session's patient id, or None (no such session)
SESSION_PATIENT: list[Callable[..., int | None]] = []


def session_patient(clinic_id: int, session_id: int, *, lock: bool = False) -> int | None:
    """The patient of the clinic's treatment session, or None; `lock` locks the session row
    for the caller's transaction. Without the treatment app no reference names a session."""
    for hook in SESSION_PATIENT:
        found = hook(clinic_id, session_id, lock=lock)
        if found is not None:
            return found
    return None
