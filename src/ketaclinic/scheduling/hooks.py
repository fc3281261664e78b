"""Extension points a higher app registers at start-up (scheduling never imports it).

The integration app plans and books preparation and integration sessions with a
course, follows a moved dosing session with its integration window (and a dropped one: cancelled,
no-show, or cut when the course ends), and adds the
conflicts of group circles (one room, one therapist, several patients) to every
booking check. Each hook runs inside the booking's transaction.

The treatment app tells which appointments have a treatment session open
(`SESSIONS_OPENED`): a treatment appointment is in progress or completed only through its
session, and the front desk's day shows which chairs are in use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

# (actor, course, appointments just booked or moved) -> None
COURSE_BOOKED: list[Callable[[Any, Any, Sequence[Any]], None]] = []
# (actor, appointment after the move, its start before) -> None
APPOINTMENT_MOVED: list[Callable[[Any, Any, datetime], None]] = []
# (actor, appointments just cancelled or marked no-show) -> None
APPOINTMENTS_DROPPED: list[Callable[[Any, Sequence[Any]], None]] = []
# (slot, excluded appointment ids) -> extra conflicts (clinical.scheduling.Conflict)
EXTRA_CONFLICTS: list[Callable[[Any, Sequence[int]], list[Any]]] = []
# (appointment ids) -> those of them that have a treatment session
SESSIONS_OPENED: list[Callable[[Sequence[int]], set[int]]] = []


def course_booked(actor: Any, course: Any, appointments: Sequence[Any]) -> None:
    for hook in COURSE_BOOKED:
        hook(actor, course, appointments)


def appointment_moved(actor: Any, appointment: Any, moved_from: datetime) -> None:
    for hook in APPOINTMENT_MOVED:
        hook(actor, appointment, moved_from)


def appointments_dropped(actor: Any, appointments: Sequence[Any]) -> None:
    for hook in APPOINTMENTS_DROPPED:
        hook(actor, appointments)


def extra_conflicts(slot: Any, exclude: Sequence[int]) -> list[Any]:
    found: list[Any] = []
    for hook in EXTRA_CONFLICTS:
        found.extend(hook(slot, exclude))
    return found


def with_sessions(appointment_ids: Sequence[int]) -> set[int]:
    """The ids among `appointment_ids` whose treatment session has been opened."""
    found: set[int] = set()
    if appointment_ids:
        for hook in SESSIONS_OPENED:
            found |= hook(appointment_ids)
    return found
