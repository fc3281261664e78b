"""Which monitoring checks are due now, and the spacing of nasal devices. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..protocols.schema import CheckPlan, FixedDose, Protocol
from .discharge import earliest_discharge_at
from .vitals import _require_aware


@dataclass(frozen=True, slots=True)
class DueCheck:
    """The next check of one kind: when it is due and whether it is late."""

    kind: str  # vitals | moaas | cadss6
    due_at: datetime
    overdue: bool
    label: str  # "40-minute BP/HR/SpO2", "MOAA/S before discharge"
    minute: int | None  # minutes from dose start; None for a before-discharge check


def _next_slot(
    plan: CheckPlan, latest: timedelta | None, grace: timedelta, window: timedelta
) -> int | None:
    """Return the minute of the earliest timed slot not yet covered, or None if all are.

    A slot at minute m is covered by any reading taken at or after m - grace (the
    minute-0 baseline: at or after dose start - baseline window). A later reading also
    covers earlier slots that were missed: the nurse is asked for the next check,
    not for one that can no longer be taken.
    """

    def covered(minute: int) -> bool:
        start = timedelta(minutes=minute) - (window if minute == 0 else grace)
        return latest is not None and latest >= start

    for minute in plan.at_minutes:
        if not covered(minute):
            return minute
    if plan.repeat_every_minutes is None:
        return None
    last_fixed, every = plan.at_minutes[-1], plan.repeat_every_minutes
    assert latest is not None  # the last fixed slot is covered, so a reading exists
    # Smallest k >= 1 with last_fixed + k*every - grace > latest.
    beyond = latest + grace - timedelta(minutes=last_fixed)
    k = max(1, int(beyond // timedelta(minutes=every)) + 1)
    return last_fixed + k * every


def _label(plan: CheckPlan, minute: int | None) -> str:
    if minute is None:
        return f"{plan.name} before discharge"
    if minute == 0:
        return f"Baseline {plan.name}"
    return f"{minute}-minute {plan.name}"


def due_checks(
    protocol: Protocol,
    *,
    dose_started_at: datetime,
    infusion_ended_at: datetime | None = None,
    done: Sequence[tuple[str, datetime]],
    now: datetime,
) -> list[DueCheck]:
    """Return the next due check of each kind in the protocol's plan, earliest first.

    ``done`` lists the checks taken this session as (kind, taken_at). For each kind the
    result holds the next timed check not yet covered (``overdue`` once ``now`` is past
    its time plus the protocol's grace), and, where the plan asks for one, the
    before-discharge check, due when the minimum observation ends; that one is a
    gate for discharge rather than a clock, so it is never flagged overdue.
    """
    for name, value in (
        ("dose_started_at", dose_started_at),
        ("infusion_ended_at", infusion_ended_at),
        ("now", now),
    ):
        _require_aware(name, value)
    plan = protocol.monitoring
    kinds = {check.kind for check in plan.checks}
    grace = timedelta(minutes=plan.grace_minutes.value)
    window = timedelta(minutes=plan.baseline_window_minutes.value)
    latest: dict[str, datetime] = {}
    for kind, taken_at in done:
        if kind not in kinds:
            raise ValueError(f"{protocol.code} has no check of kind {kind!r}")
        _require_aware("done", taken_at)
        if kind not in latest or taken_at > latest[kind]:
            latest[kind] = taken_at
    discharge_at = earliest_discharge_at(
        protocol, dose_started_at=dose_started_at, infusion_ended_at=infusion_ended_at
    )

    result: list[DueCheck] = []
    for check in plan.checks:
        taken = latest.get(check.kind)
        offset = None if taken is None else taken - dose_started_at
        if check.at_minutes:
            minute = _next_slot(check, offset, grace, window)
            if minute is not None:
                due_at = dose_started_at + timedelta(minutes=minute)
                result.append(
                    DueCheck(
                        kind=check.kind,
                        due_at=due_at,
                        overdue=now > due_at + grace,
                        label=_label(check, minute),
                        minute=minute,
                    )
                )
        if check.before_discharge and (taken is None or taken < discharge_at - grace):
            result.append(
                DueCheck(
                    kind=check.kind,
                    due_at=discharge_at,
                    overdue=False,
                    label=_label(check, None),
                    minute=None,
                )
            )
    kind_order: list[str] = [check.kind for check in plan.checks]
    return sorted(result, key=lambda d: (d.due_at, kind_order.index(d.kind)))


# --- discharge ----------------------------------------------------------------------


def device_spacing_warnings(device_times: Sequence[datetime], *, protocol: Protocol) -> list[str]:
    """Return a warning for each device given sooner after the previous one than the label allows."""
    if not isinstance(protocol.dose, FixedDose):
        raise ValueError(f"{protocol.code} is not a device-based protocol")
    for value in device_times:
        _require_aware("device_times", value)
    rule = protocol.dose.min_minutes_between_devices
    minimum = timedelta(minutes=float(rule.value))
    ordered = sorted(device_times)
    warnings = []
    for number, (before, after) in enumerate(zip(ordered, ordered[1:], strict=False), start=2):
        gap = after - before
        if gap < minimum:
            seconds = int(gap.total_seconds())
            warnings.append(
                f"Device {number} was given {seconds // 60} min {seconds % 60} s after device "
                f"{number - 1}; wait at least {rule.value} minutes between devices "
                f"({rule.source})."
            )
    return warnings
