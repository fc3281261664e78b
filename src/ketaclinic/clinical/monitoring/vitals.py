"""Vital signs: plausible ranges and the protocol's alerts on a reading. Pure.

A reading is a mapping of signal names to numbers; a missing key or ``None`` means
"not measured". Accepted keys: ``systolic_bp``, ``diastolic_bp`` (mmHg),
``heart_rate`` (/min), ``spo2`` (%), ``respiratory_rate`` (/min), ``temperature_c``
(°C), ``moaas`` (0-5), ``cadss6`` (0-24). Any other key is refused, so a misspelt
key cannot leave a value unchecked.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from ..protocols.schema import Protocol, Threshold

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


# docs/clinical-sources.md §5 (Monitoring thresholds) "plausible" column (policy); CADSS-6 range from docs/clinical-sources.md §6 (Instruments).
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
