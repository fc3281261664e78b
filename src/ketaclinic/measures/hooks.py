"""What measures needs from the apps above it, registered by them at start-up.

Measures sits below screening, scheduling and treatment and imports none of them; each
answers a question here from its own `AppConfig.ready()` (a real import in the right
direction: the higher app imports this module):

- the times of a patient's doses (treatment): the baseline of every outcome is the last
  score before the first dose (docs/clinical-sources.md, outcomes);
- the patient's own physicians, most specific first (scheduling: the course's
  prescriber; screening: the physician who decided the latest screening), who are told
  of an urgent alert before anyone else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# (clinic id, patient id) -> when each dose started, oldest first
DOSE_TIMES: list[Callable[[int, int], list[datetime]]] = []
# (rank, (clinic id, patient id) -> physicians' user ids); lower ranks are asked first
PATIENT_PHYSICIANS: list[tuple[int, Callable[[int, int], list[int]]]] = []


def dose_times(clinic_id: int, patient_id: int) -> list[datetime]:
    """When each of the patient's doses started, oldest first (none before any treatment)."""
    found: list[datetime] = []
    for hook in DOSE_TIMES:
        found.extend(hook(clinic_id, patient_id))
    return sorted(found)


def patient_physicians(clinic_id: int, patient_id: int) -> list[int]:
    """User ids of the patient's own physicians, most specific first."""
    found: list[int] = []
    for _, hook in sorted(PATIENT_PHYSICIANS, key=lambda ranked: ranked[0]):
        found.extend(hook(clinic_id, patient_id))
    return found


def register_physicians(rank: int, hook: Callable[[int, int], list[int]]) -> None:
    if all(existing is not hook for _, existing in PATIENT_PHYSICIANS):
        PATIENT_PHYSICIANS.append((rank, hook))


def register_dose_times(hook: Callable[[int, int], list[datetime]]) -> None:
    if hook not in DOSE_TIMES:
        DOSE_TIMES.append(hook)
