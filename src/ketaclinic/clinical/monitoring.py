"""Session monitoring: plausibility, vital-sign alerts, due checks, discharge, device spacing.

Every threshold and time comes from the protocol's data file (``protocols/definitions``);
this module only applies them. All datetimes must be timezone-aware.

A reading is a mapping of signal names to numbers; a missing key or ``None`` means
"not measured". Accepted keys: ``systolic_bp``, ``diastolic_bp`` (mmHg),
``heart_rate`` (/min), ``spo2`` (%), ``respiratory_rate`` (/min), ``temperature_c``
(°C), ``moaas`` (0-5), ``cadss6`` (0-24). Any other key is refused, so a misspelt
key cannot leave a value unchecked.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from .protocols.schema import CheckPlan, FixedDose, Protocol, Threshold

__all__ = [
    "LEVEL_ORDER",
    "PLAUSIBLE_RANGES",
    "Alert",
    "DueCheck",
    "PlausibleRange",
    "UnmetCriterion",
    "VitalError",
    "check_plausible",
    "device_spacing_warnings",
    "discharge_check",
    "due_checks",
    "earliest_discharge_at",
    "vital_alerts",
]

Phase = Literal["pre_dose", "during"]
CheckKind = Literal["vitals", "moaas", "cadss6"]

# Most severe first; alerts are returned in this order.
LEVEL_ORDER: tuple[str, ...] = ("urgent", "high", "caution")


@dataclass(frozen=True, slots=True)
class PlausibleRange:
    """The inclusive range outside which a value is an entry error, and its unit."""

    low: Decimal
    high: Decimal
    unit: str
    label: str
    whole_number: bool = False


# DOMAIN §5 "plausible" column (policy); CADSS-6 range from DOMAIN §6.
PLAUSIBLE_RANGES: Mapping[str, PlausibleRange] = {
    "systolic_bp": PlausibleRange(Decimal(50), Decimal(300), "mmHg", "Systolic BP"),
    "diastolic_bp": PlausibleRange(Decimal(20), Decimal(200), "mmHg", "Diastolic BP"),
    "heart_rate": PlausibleRange(Decimal(20), Decimal(250), "/min", "Heart rate"),
    "spo2": PlausibleRange(Decimal(50), Decimal(100), "%", "SpO2"),
    "respiratory_rate": PlausibleRange(Decimal(4), Decimal(60), "/min", "Respiratory rate"),
    "temperature_c": PlausibleRange(Decimal(30), Decimal(45), "°C", "Temperature"),
    "moaas": PlausibleRange(Decimal(0), Decimal(5), "", "MOAA/S", whole_number=True),
    "cadss6": PlausibleRange(Decimal(0), Decimal(24), "", "CADSS-6", whole_number=True),
}


class VitalError(ValueError):
    """A reading is impossible (an entry error) or malformed; ``field`` names the key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert raised by a reading: what, how severe, and what to do."""

    code: str  # hypertension, tachycardia, bradycardia, desaturation, bradypnea, sedation
    level: str  # urgent | high | caution
    message: str  # plain words, ending with the protocol's action
    signal: str
    value: Decimal
    rule_id: str  # the threshold's id in the protocol file
    source: str
    escalated: bool = False  # raised again, higher, because the recheck still breaches


@dataclass(frozen=True, slots=True)
class DueCheck:
    """The next check of one kind: when it is due and whether it is late."""

    kind: str  # vitals | moaas | cadss6
    due_at: datetime
    overdue: bool
    label: str  # "40-minute BP/HR/SpO2", "MOAA/S before discharge"
    minute: int | None  # minutes from dose start; None for a before-discharge check


@dataclass(frozen=True, slots=True)
class UnmetCriterion:
    """A discharge criterion not yet met."""

    # observation_time | sedation | dissociation | vitals | respiratory_depression | gait | escort
    code: str
    message: str


# --- plausibility ---------------------------------------------------------------


def _value(field: str, raw: object) -> Decimal:
    """Return a reading value as a finite Decimal, or raise VitalError."""
    if isinstance(raw, bool) or not isinstance(raw, Decimal | int | float):
        raise VitalError(field, f"{field} must be a number")
    value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
    if not value.is_finite():
        raise VitalError(field, f"{field} must be a finite number")
    return value


def _values(reading: Mapping[str, object]) -> dict[str, Decimal]:
    """Return the measured values of a plausible reading (raises VitalError otherwise)."""
    values: dict[str, Decimal] = {}
    for field, raw in reading.items():
        spec = PLAUSIBLE_RANGES.get(field)
        if spec is None:
            raise VitalError(field, f"unknown reading field {field!r}")
        if raw is None:
            continue
        value = _value(field, raw)
        if spec.whole_number and value != value.to_integral_value():
            raise VitalError(field, f"{spec.label} must be a whole number")
        if not spec.low <= value <= spec.high:
            unit = f" {spec.unit}" if spec.unit else ""
            raise VitalError(
                field,
                f"{spec.label} {value}{unit} is not plausible (expected {spec.low}-{spec.high}"
                f"{unit}): check the entry",
            )
        values[field] = value
    systolic, diastolic = values.get("systolic_bp"), values.get("diastolic_bp")
    if systolic is not None and diastolic is not None and systolic <= diastolic:
        raise VitalError(
            "systolic_bp",
            f"systolic BP {systolic} must be above diastolic BP {diastolic}: check the entry",
        )
    return values


def check_plausible(reading: Mapping[str, object]) -> None:
    """Raise VitalError if any value in ``reading`` is impossible; return None if all are plausible."""
    _values(reading)


# --- alerts ----------------------------------------------------------------------


_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
_OP_WORDS = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}


def _breach(rule: Threshold, value: Decimal) -> str:
    """Return one breach in words: 'Systolic BP 78 mmHg is below 90 mmHg'."""
    spec = PLAUSIBLE_RANGES[rule.signal]
    unit = f" {spec.unit}" if spec.unit and spec.unit != "%" else spec.unit
    return f"{spec.label} {value}{unit} is {_OP_WORDS[rule.op]} {rule.value}{unit}"


def _alert(fired: Sequence[tuple[Threshold, Decimal]], *, escalate: bool) -> Alert:
    """Return one alert for the rules of one code that fired on one reading.

    The most severe rule gives the level, action and source; every breach is named, so a
    blood pressure of 78/45 is one hypotension alert that states both values.
    """
    rule, value = fired[0]
    level: str = rule.level
    escalated = escalate and rule.escalate_to is not None
    if escalated:
        assert rule.escalate_to is not None
        level = rule.escalate_to
    breaches = [_breach(r, v) for r, v in fired]
    text = breaches[0] + "".join(f" and {b[0].lower()}{b[1:]}" for b in breaches[1:])
    if escalated:
        text += f", still on the recheck ({rule.level} raised to {level}; physician notified again)"
    else:
        text += f" ({level})"
    source = f"{rule.source} [verify]" if rule.verify else rule.source
    return Alert(
        code=rule.code,
        level=level,
        message=f"{text}: {rule.action}.",
        signal=rule.signal,
        value=value,
        rule_id=rule.id,
        source=source,
        escalated=escalated,
    )


def vital_alerts(
    protocol: Protocol,
    reading: Mapping[str, object],
    *,
    phase: Phase,
    persisting: Collection[str] = (),
) -> list[Alert]:
    """Return the alerts ``reading`` raises under ``protocol`` in ``phase``, most severe first.

    The reading is checked for plausibility first (VitalError). One reading raises at
    most one alert per code: SpO2 85 is below 92 and below 88 (the urgent rule wins), and
    a systolic and a diastolic below their limits are one hypotension alert naming both.

    ``persisting`` holds the codes the previous reading of the session raised: when this
    reading is the recheck and the breach persists, a rule with ``escalate_to`` raises
    its alert at that higher level (``Alert.escalated``), so the physician hears again.
    """
    if phase not in ("pre_dose", "during"):
        raise ValueError(f"phase must be 'pre_dose' or 'during', not {phase!r}")
    values = _values(reading)
    signal_order = list(PLAUSIBLE_RANGES)
    by_code: dict[str, list[tuple[Threshold, Decimal]]] = {}
    for rule in protocol.thresholds:
        value = values.get(rule.signal)
        if value is None or phase not in rule.phases or not _OPS[rule.op](value, rule.value):
            continue
        by_code.setdefault(rule.code, []).append((rule, value))
    alerts = []
    for code, fired in by_code.items():
        # Most severe first; per signal keep only its most severe rule.
        fired.sort(
            key=lambda rv: (LEVEL_ORDER.index(rv[0].level), signal_order.index(rv[0].signal))
        )
        worst_per_signal: dict[str, tuple[Threshold, Decimal]] = {}
        for rule, value in fired:
            worst_per_signal.setdefault(rule.signal, (rule, value))
        alerts.append(_alert(list(worst_per_signal.values()), escalate=code in persisting))
    return sorted(
        alerts,
        key=lambda a: (LEVEL_ORDER.index(a.level), signal_order.index(a.signal)),
    )


# --- timing ----------------------------------------------------------------------


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware")


def earliest_discharge_at(
    protocol: Protocol, *, dose_started_at: datetime, infusion_ended_at: datetime | None = None
) -> datetime:
    """Return when the minimum observation ends (planned infusion end if not yet ended)."""
    _require_aware("dose_started_at", dose_started_at)
    _require_aware("infusion_ended_at", infusion_ended_at)
    observation = protocol.discharge.observation
    anchor = dose_started_at
    if observation.anchor == "infusion_end":
        if infusion_ended_at is not None:
            anchor = infusion_ended_at
        elif protocol.infusion_minutes is not None:
            anchor = dose_started_at + timedelta(minutes=protocol.infusion_minutes.value)
    return anchor + timedelta(minutes=observation.minimum_minutes)


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


def _minutes(delta: timedelta) -> str:
    """Return a duration as whole minutes, rounded down (119 min 59 s is 119)."""
    return str(int(delta.total_seconds() // 60))


def _clock(moment: datetime, now: datetime) -> str:
    """A moment as the clock shows it in `now`'s time zone (the caller's clinic): "14:05",
    with the date when it is not today ("14:05 on 7 Dec")."""
    local = moment.astimezone(now.tzinfo)
    if local.date() == now.date():
        return f"{local:%H:%M}"
    return f"{local:%H:%M} on {local.day} {local:%b}"


def discharge_check(
    protocol: Protocol,
    *,
    first_dose_at: datetime,
    infusion_ended_at: datetime | None,
    dose_ended_at: datetime | None,
    now: datetime,
    last_vitals: Mapping[str, object] | None,
    last_vitals_at: datetime | None,
    last_moaas: int | None,
    last_moaas_at: datetime | None,
    last_cadss6_at: datetime | None,
    dissociation_resolved: bool | None,
    respiratory_depression: bool | None,
    walks_steadily: bool | None,
    escort_present: bool | None,
) -> list[UnmetCriterion]:
    """Return the discharge criteria not met; an empty list means the patient may go.

    ``None`` for any finding means "not assessed" and counts as unmet. The vitals,
    MOAA/S and CADSS-6 that count are the latest ones, each with the time it was taken:
    they must be taken after the dose ended (``dose_ended_at``: the infusion stopped or
    the devices were given), no more than the protocol's ``readings_valid_minutes``
    before ``now``, and, where the protocol plans a before-discharge check of that kind,
    no earlier than that check's due time (the end of the minimum observation, less
    the grace). Vitals must include every signal the protocol lists and raise no alert
    (during-session thresholds); MOAA/S in ``last_vitals`` is ignored in favour of
    ``last_moaas``. Respiratory depression recorded in the session is unmet until a
    physician overrides.
    """
    for name, value in (
        ("first_dose_at", first_dose_at),
        ("infusion_ended_at", infusion_ended_at),
        ("dose_ended_at", dose_ended_at),
        ("now", now),
        ("last_vitals_at", last_vitals_at),
        ("last_moaas_at", last_moaas_at),
        ("last_cadss6_at", last_cadss6_at),
    ):
        _require_aware(name, value)
    if now < first_dose_at:
        raise ValueError("now is before the first dose")
    if last_vitals is not None and last_vitals_at is None:
        raise ValueError("last_vitals needs last_vitals_at")
    if last_moaas is not None and last_moaas_at is None:
        raise ValueError("last_moaas needs last_moaas_at")
    criteria = protocol.discharge
    unmet: list[UnmetCriterion] = []

    observation = criteria.observation
    needed = timedelta(minutes=observation.minimum_minutes)
    if observation.anchor == "infusion_end" and infusion_ended_at is None:
        unmet.append(
            UnmetCriterion(
                "observation_time",
                f"The infusion has not ended; observation lasts {observation.minimum_minutes} "
                "minutes after it ends.",
            )
        )
    else:
        anchor = infusion_ended_at if observation.anchor == "infusion_end" else first_dose_at
        assert anchor is not None
        elapsed = now - anchor
        if elapsed < needed:
            what = (
                "the infusion ended" if observation.anchor == "infusion_end" else "the first dose"
            )
            unmet.append(
                UnmetCriterion(
                    "observation_time",
                    f"Observed {_minutes(elapsed)} of {observation.minimum_minutes} minutes since "
                    f"{what}; earliest discharge at {_clock(anchor + needed, now)}.",
                )
            )

    fresh = _Freshness(
        protocol,
        dose_ended_at=dose_ended_at or infusion_ended_at or first_dose_at,
        now=now,
        discharge_at=earliest_discharge_at(
            protocol, dose_started_at=first_dose_at, infusion_ended_at=infusion_ended_at
        ),
    )

    required_moaas = criteria.moaas_required.value
    sedation = [fresh.problem("moaas", "MOAA/S", last_moaas_at)]
    if last_moaas is not None:
        check_plausible({"moaas": last_moaas})
        if last_moaas != required_moaas:
            sedation.append(f"MOAA/S is {last_moaas}; {required_moaas} (fully alert) is required.")
    _add(unmet, "sedation", sedation)

    dissociation = []
    if any(check.kind == "cadss6" for check in protocol.monitoring.checks):
        dissociation.append(fresh.problem("cadss6", "CADSS-6", last_cadss6_at))
    if criteria.dissociation_resolved.required and dissociation_resolved is not True:
        state = "not assessed" if dissociation_resolved is None else "not resolved"
        dissociation.append(f"Dissociation {state}.")
    _add(unmet, "dissociation", dissociation)

    vitals_rule = criteria.vitals_in_range
    if vitals_rule.required:
        vitals = [fresh.problem("vitals", "Vital signs", last_vitals_at)]
        if last_vitals is not None:
            vitals.append(_vitals_problem(protocol, vitals_rule.signals, last_vitals))
        _add(unmet, "vitals", vitals)

    if respiratory_depression is True:
        unmet.append(
            UnmetCriterion(
                "respiratory_depression",
                "Respiratory depression was recorded in this session: a physician reviews the "
                "patient before discharge.",
            )
        )

    if criteria.walks_steadily.required and walks_steadily is not True:
        state = "not assessed" if walks_steadily is None else "not steady"
        unmet.append(UnmetCriterion("gait", f"Walking {state}."))

    if criteria.escort_present.required and escort_present is not True:
        unmet.append(UnmetCriterion("escort", "No escort is present to take the patient home."))
    return unmet


def _add(unmet: list[UnmetCriterion], code: str, problems: Sequence[str | None]) -> None:
    """Append one criterion for ``code`` with every problem found, if any."""
    found = [p for p in problems if p]
    if found:
        unmet.append(UnmetCriterion(code, " ".join(found)))


@dataclass(frozen=True, slots=True)
class _Freshness:
    """Whether the latest check of a kind still counts for discharge."""

    protocol: Protocol
    dose_ended_at: datetime
    now: datetime
    discharge_at: datetime

    def problem(self, kind: str, label: str, taken_at: datetime | None) -> str | None:
        """Return why the check taken at ``taken_at`` does not count, or None if it does."""
        valid = self.protocol.discharge.readings_valid_minutes.value
        if taken_at is None:
            return f"{label}: not recorded since the dose ended."
        if taken_at < self.dose_ended_at:
            return f"{label}: last recorded before the dose ended; record again."
        age = self.now - taken_at
        if age > timedelta(minutes=valid):
            return (
                f"{label}: last recorded {_minutes(age)} minutes ago; they count for {valid} "
                "minutes, record again."
            )
        plan = self.protocol.monitoring
        planned = any(c.kind == kind and c.before_discharge for c in plan.checks)
        grace = timedelta(minutes=plan.grace_minutes.value)
        if planned and taken_at < self.discharge_at - grace:
            return (
                f"{label}: the before-discharge check is still due (the last was taken before "
                "the minimum observation ended)."
            )
        return None


def _vitals_problem(
    protocol: Protocol, signals: Sequence[str], last_vitals: Mapping[str, object]
) -> str | None:
    """Return why the last vitals' values do not allow discharge, or None if they do."""
    vitals = {k: v for k, v in last_vitals.items() if k != "moaas"}
    missing = [s for s in signals if vitals.get(s) is None]
    alerts = vital_alerts(protocol, vitals, phase="during")
    parts = []
    if missing:
        labels = ", ".join(PLAUSIBLE_RANGES[s].label for s in missing)
        parts.append(f"Not recorded before discharge: {labels}.")
    parts.extend(alert.message[0].upper() + alert.message[1:] for alert in alerts)
    return " ".join(parts) or None


# --- esketamine devices -----------------------------------------------------------------


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
