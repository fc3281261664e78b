"""When preparation and integration sessions fall due around a course's dosing sessions.

Pure: takes the protocol's ``integration`` plan and the dosing sessions' times, returns
the windows. The numbers (how many, within how many hours) are the protocol file's,
marked ``policy`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ketaclinic.clinical.protocols.schema import IntegrationPlan

__all__ = ["Window", "integration_after", "planned_windows"]

# A preparation session is planned in the days before the first dose (clinic policy).
PREPARATION_LEAD_DAYS = 14


@dataclass(frozen=True)
class Window:
    """A session due between ``opens`` and ``closes``.

    ``dosing`` is the 1-based number of the dosing session it follows (0 = preparation).
    """

    kind: str  # "preparation" | "integration"
    dosing: int
    opens: datetime
    closes: datetime


def integration_after(plan: IntegrationPlan, number: int) -> bool:
    """True when the ``number``-th (1-based) dosing session is followed by integration."""
    if number < 1:
        return False
    if number <= plan.first_n:
        return True
    return plan.then_every > 0 and (number - plan.first_n) % plan.then_every == 0


def planned_windows(
    plan: IntegrationPlan, dosing: Sequence[tuple[datetime, datetime]]
) -> list[Window]:
    """Every window the plan asks for, given the dosing sessions' (start, end) in order.

    An integration window opens when the dosing session ends and closes ``within_hours``
    after it started; preparation windows close when the first dose starts.
    """
    ordered = sorted(dosing)
    windows: list[Window] = []
    if ordered and plan.preparation_sessions:
        first = ordered[0][0]
        for _ in range(plan.preparation_sessions):
            windows.append(
                Window("preparation", 0, first - timedelta(days=PREPARATION_LEAD_DAYS), first)
            )
    for number, (start, end) in enumerate(ordered, start=1):
        if integration_after(plan, number):
            closes = start + timedelta(hours=plan.within_hours)
            windows.append(Window("integration", number, max(end, start), closes))
    return windows
