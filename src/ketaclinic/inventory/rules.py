"""Pure rules of the ledger: business-day deadlines, inventory due dates.

No database access here; the services call these with plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


def add_business_days(start: date, days: int) -> date:
    """The date `days` business days after `start`; Saturdays and Sundays are skipped.

    Federal holidays are not skipped: the deadline shown is never later than the real one.
    """
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def loss_deadlines(discovered_on: date) -> tuple[date, date]:
    """(written notice due, Form 106 due) for a theft or significant loss discovered that day.

    21 CFR 1301.76(b): written notice to the DEA Field Division Office within one
    business day of discovery; Form 106 electronically within 45 days (88 FR 40707).
    """
    return add_business_days(discovered_on, 1), discovered_on + timedelta(days=45)


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class InventoryDue:
    """Whether a complete inventory is due: `state` is ok, soon, due, overdue or initial.

    For a clinic, `places` lists the locations that need one (each with its own state,
    due date and last inventory); the clinic's state is the most pressing of them.
    """

    state: str
    due_on: date | None
    last_on: date | None
    places: tuple[LocationDue, ...] = ()

    @property
    def needs_attention(self) -> bool:
        return self.state != "ok"


@dataclass(frozen=True)
class LocationDue:
    location_id: int
    name: str
    due: InventoryDue

    @property
    def kind(self) -> str:
        """The count to take there: the initial inventory, or the next complete one."""
        return "initial" if self.due.state == "initial" else "inventory"


# Most pressing first: no inventory at all, then overdue, due today, due soon.
URGENCY = {"initial": 4, "overdue": 3, "due": 2, "soon": 1, "ok": 0}


def inventory_due_state(
    *, last_on: date | None, today: date, interval_months: int, remind_days: int
) -> InventoryDue:
    """When the next complete inventory is due, given the last one (or none: initial needed)."""
    if last_on is None:
        return InventoryDue("initial", None, None)
    due_on = add_months(last_on, interval_months)
    if today > due_on:
        state = "overdue"
    elif today == due_on:
        state = "due"
    elif (due_on - today).days <= remind_days:
        state = "soon"
    else:
        state = "ok"
    return InventoryDue(state, due_on, last_on)


def clinic_inventory_due(
    *,
    locations: list[tuple[int, str]],
    last_on: dict[int, date],
    today: date,
    interval_months: int,
    remind_days: int,
) -> InventoryDue:
    """The clinic's inventory state over its active locations (id, name).

    A complete inventory counts one location, so each location has its own due date:
    the clinic is due when any location is. No location at all (a new clinic) needs
    its initial inventory.
    """
    if not locations:
        return InventoryDue("initial", None, None)
    places = [
        LocationDue(
            location_id,
            name,
            inventory_due_state(
                last_on=last_on.get(location_id),
                today=today,
                interval_months=interval_months,
                remind_days=remind_days,
            ),
        )
        for location_id, name in locations
    ]
    pressing = sorted(
        (p for p in places if p.due.needs_attention),
        key=lambda p: (-URGENCY[p.due.state], p.due.due_on or date.min, p.name),
    )
    if not pressing:
        soonest = min(places, key=lambda p: p.due.due_on or date.min)
        return InventoryDue("ok", soonest.due.due_on, soonest.due.last_on)
    first = pressing[0].due
    return InventoryDue(first.state, first.due_on, first.last_on, tuple(pressing))
