"""Dose calculation for a treatment protocol: mg, dosing weight, volume, pump rate, devices.

Arithmetic is Decimal throughout so a dose is reproducible to the last digit. Rounding
(all ROUND_HALF_UP, i.e. 0.5 rounds away from zero):

- ideal and adjusted body weight to 0.01 kg;
- the dose to the protocol's ``dose_step_mg`` (except that it never rounds above a hard
  maximum: such a dose is rounded down instead);
- the volume to the protocol's ``volume_step_ml`` (schema validation guarantees every
  dose step is a whole number of volume steps at every offered concentration, so this
  rounding never changes the dose);
- the pump rate to the protocol's ``rate_step_ml_per_h``.

The calculator refuses (``DoseError``) what must not be given: a dose below the
protocol minimum or above its hard maximum (on the dosing weight and, when that is
ideal or adjusted, on actual weight too), an implausible weight or height, or a
basis it cannot compute. It warns (``DoseResult.warnings``) about what a physician
should see: a stale weight, a dose above the default, a dosing weight above actual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from .protocols.schema import FixedDose, MgPerKgDose, Protocol, SourcedBase

__all__ = [
    "HEIGHT_RANGE_CM",
    "WEIGHT_RANGE_KG",
    "DoseError",
    "DoseResult",
    "adjusted_body_weight",
    "calculate_dose",
    "ideal_body_weight",
]

Number = Decimal | int | float

# Plausible ranges (docs/clinical-sources.md §5 (Monitoring thresholds), policy): outside them the value is an entry error.
WEIGHT_RANGE_KG: tuple[Decimal, Decimal] = (Decimal(25), Decimal(350))
HEIGHT_RANGE_CM: tuple[Decimal, Decimal] = (Decimal(100), Decimal(250))

# Devine ideal body weight (docs/clinical-sources.md §4.1 (IV racemic ketamine for depression)): base kg + 2.3 kg per inch over 60 inches.
_DEVINE_BASE_KG = {"male": Decimal(50), "female": Decimal("45.5")}
_DEVINE_KG_PER_INCH = Decimal("2.3")
_DEVINE_FROM_INCHES = Decimal(60)
_CM_PER_INCH = Decimal("2.54")
_WEIGHT_STEP = Decimal("0.01")
_PER_KG_STEP = Decimal("0.001")


class DoseError(ValueError):
    """The dose cannot be calculated or must not be given; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class DoseResult:
    """A calculated dose and how it was reached; record it with the protocol version."""

    protocol_code: str
    protocol_version: int
    dose_mg: Decimal
    # Weight-based protocols only (None for fixed-dose esketamine):
    requested_mg_per_kg: Decimal | None
    effective_mg_per_kg: Decimal | None  # dose_mg / weight_used_kg after rounding
    weight_basis: str | None  # actual | ideal | adjusted
    weight_used_kg: Decimal | None
    actual_weight_kg: Decimal | None
    ideal_weight_kg: Decimal | None
    concentration_mg_per_ml: Decimal | None
    volume_ml: Decimal | None
    # IV only:
    infusion_minutes: int | None
    rate_ml_per_h: Decimal | None
    # Device-based protocols only:
    devices: int | None
    warnings: tuple[str, ...]


def _decimal(field: str, value: object) -> Decimal:
    """Return ``value`` as a finite Decimal, or raise DoseError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise DoseError(field, f"{field} must be a number")
    # str() first so a float like 70.1 becomes Decimal("70.1"), not its binary expansion.
    result = value if isinstance(value, Decimal) else Decimal(str(value))
    if not result.is_finite():
        raise DoseError(field, f"{field} must be a finite number")
    return result


def _in_range(field: str, value: Decimal, bounds: tuple[Decimal, Decimal], unit: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise DoseError(
            field, f"{field} {value} {unit} is outside the plausible range {low}-{high} {unit}"
        )


def _round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Return ``value`` rounded to a whole multiple of ``step``."""
    return ((value / step).to_integral_value(rounding=rounding) * step).quantize(step)


def ideal_body_weight(height_cm: Decimal, sex_at_birth: str) -> Decimal:
    """Return Devine ideal body weight in kg (0.01 kg, half up) for a height of 60 in or more."""
    base = _DEVINE_BASE_KG.get(sex_at_birth)
    if base is None:
        raise DoseError(
            "sex_at_birth", "sex_at_birth must be 'male' or 'female' for ideal or adjusted weight"
        )
    inches = height_cm / _CM_PER_INCH
    # Devine adds weight per inch *over* 5 feet; below that it yields nonsense (2.5 kg at
    # 100 cm), so refuse rather than extrapolate.
    if inches < _DEVINE_FROM_INCHES:
        raise DoseError(
            "height_cm",
            f"the Devine formula applies from 60 inches (152.4 cm); {height_cm} cm is shorter: "
            "dose on actual weight",
        )
    ideal = base + _DEVINE_KG_PER_INCH * (inches - _DEVINE_FROM_INCHES)
    return _round_to_step(ideal, _WEIGHT_STEP)


def adjusted_body_weight(actual_kg: Decimal, ideal_kg: Decimal, factor: Decimal) -> Decimal:
    """Return adjusted body weight: ideal + factor x (actual - ideal), to 0.01 kg half up."""
    return _round_to_step(ideal_kg + factor * (actual_kg - ideal_kg), _WEIGHT_STEP)


def calculate_dose(
    protocol: Protocol,
    *,
    weight_kg: Number | None,
    height_cm: Number | None = None,
    sex_at_birth: str | None = None,
    dose_mg_per_kg: Number | None = None,
    dose_mg: Number | None = None,
    weight_basis: str | None = None,
    concentration_mg_per_ml: Number | None = None,
    weight_measured_on: date | None = None,
    today: date | None = None,
    first_session: bool = False,
) -> DoseResult:
    """Return the dose for one session under ``protocol``, or raise DoseError.

    Weight-based protocols dose ``dose_mg_per_kg`` (or an absolute ``dose_mg``, or the
    protocol default) on the chosen weight basis. Fixed-dose protocols take ``dose_mg``
    (default: the starting dose) and return whole devices; ``first_session=True``
    requires the starting dose. ``today`` should be the clinic's local date; without it
    the UTC date is used.
    """
    weight = None if weight_kg is None else _decimal("weight_kg", weight_kg)
    if weight is not None:
        _in_range("weight_kg", weight, WEIGHT_RANGE_KG, "kg")
    height = None if height_cm is None else _decimal("height_cm", height_cm)
    if height is not None:
        _in_range("height_cm", height, HEIGHT_RANGE_CM, "cm")
    per_kg = None if dose_mg_per_kg is None else _decimal("dose_mg_per_kg", dose_mg_per_kg)
    absolute = None if dose_mg is None else _decimal("dose_mg", dose_mg)
    if per_kg is not None and absolute is not None:
        raise DoseError("dose_mg", "give dose_mg_per_kg or dose_mg, not both")
    for field, value in (("dose_mg_per_kg", per_kg), ("dose_mg", absolute)):
        if value is not None and value <= 0:
            raise DoseError(field, f"{field} must be above zero")

    if isinstance(protocol.dose, FixedDose):
        return _fixed_dose(
            protocol,
            protocol.dose,
            per_kg=per_kg,
            absolute=absolute,
            weight_basis=weight_basis,
            concentration=concentration_mg_per_ml,
            first_session=first_session,
        )
    if weight is None:
        raise DoseError("weight_kg", "a weight-based protocol needs the patient's weight")
    return _weight_based_dose(
        protocol,
        protocol.dose,
        weight=weight,
        height=height,
        sex_at_birth=sex_at_birth,
        per_kg=per_kg,
        absolute=absolute,
        weight_basis=weight_basis,
        concentration=concentration_mg_per_ml,
        weight_measured_on=weight_measured_on,
        today=today,
    )


def _fixed_dose(
    protocol: Protocol,
    rule: FixedDose,
    *,
    per_kg: Decimal | None,
    absolute: Decimal | None,
    weight_basis: str | None,
    concentration: Number | None,
    first_session: bool,
) -> DoseResult:
    """Return a fixed device-based dose (esketamine nasal spray)."""
    for field, value in (
        ("dose_mg_per_kg", per_kg),
        ("weight_basis", weight_basis),
        ("concentration_mg_per_ml", concentration),
    ):
        if value is not None:
            raise DoseError(field, f"{protocol.code} is a fixed dose: {field} does not apply")
    allowed = rule.allowed_doses_mg.values
    dose = rule.starting_dose_mg.value if absolute is None else absolute
    if dose not in allowed:
        listed = " or ".join(f"{a} mg" for a in allowed)
        raise DoseError("dose_mg", f"{protocol.code} allows {listed} only, not {dose} mg")
    if first_session and dose != rule.starting_dose_mg.value:
        raise DoseError(
            "dose_mg",
            f"the first session's dose is {rule.starting_dose_mg.value} mg "
            f"({_cite(rule.starting_dose_mg)}); {dose} mg only after it",
        )
    return DoseResult(
        protocol_code=protocol.code,
        protocol_version=protocol.version,
        dose_mg=dose,
        requested_mg_per_kg=None,
        effective_mg_per_kg=None,
        weight_basis=None,
        weight_used_kg=None,
        actual_weight_kg=None,
        ideal_weight_kg=None,
        concentration_mg_per_ml=None,
        volume_ml=None,
        infusion_minutes=None,
        rate_ml_per_h=None,
        devices=int(dose / rule.mg_per_device.value),
        warnings=(),
    )


def _weight_based_dose(
    protocol: Protocol,
    rule: MgPerKgDose,
    *,
    weight: Decimal,
    height: Decimal | None,
    sex_at_birth: str | None,
    per_kg: Decimal | None,
    absolute: Decimal | None,
    weight_basis: str | None,
    concentration: Number | None,
    weight_measured_on: date | None,
    today: date | None,
) -> DoseResult:
    """Return a weight-based dose with its volume and, for IV, its pump rate."""
    warnings: list[str] = []
    basis = weight_basis or rule.default_weight_basis
    if basis not in rule.weight_bases:
        raise DoseError(
            "weight_basis",
            f"weight_basis must be one of {', '.join(rule.weight_bases)}, not {basis!r}",
        )

    ideal: Decimal | None = None
    used = weight
    if basis in ("ideal", "adjusted"):
        if height is None:
            raise DoseError("height_cm", f"{basis} body weight needs the patient's height")
        if sex_at_birth is None:
            raise DoseError("sex_at_birth", f"{basis} body weight needs sex at birth")
        ideal = ideal_body_weight(height, sex_at_birth)
        if basis == "ideal":
            used = ideal
        else:
            used = adjusted_body_weight(weight, ideal, rule.adjusted_weight_factor.value)
        if weight < ideal:
            warnings.append(
                f"Actual weight {weight} kg is below ideal body weight {ideal} kg: "
                f"the {basis} weight ({used} kg) gives a larger dose than actual weight would."
            )

    _weight_date_warnings(rule, weight_measured_on, today, warnings)

    # The requested strength in mg/kg, from whichever input the clinician gave.
    if absolute is not None:
        requested = absolute / used
        field = "dose_mg"
    else:
        requested = per_kg if per_kg is not None else rule.default_mg_per_kg.value
        field = "dose_mg_per_kg"
    described = f"{_fmt(requested)} mg/kg on {used} kg"
    if requested < rule.min_mg_per_kg.value:
        raise DoseError(
            field,
            f"{described} is below the protocol minimum of {rule.min_mg_per_kg.value} mg/kg "
            f"({_cite(rule.min_mg_per_kg)})",
        )
    minutes = protocol.infusion_minutes.value if protocol.infusion_minutes else None
    cap_per_hour = rule.hard_max_mg_per_kg_per_hour
    _refuse_above_caps(rule, requested, minutes, field, f"{described} is", f"{described} over")
    raw = absolute if absolute is not None else requested * used
    if used != weight:
        _refuse_above_max_on_actual(
            rule, raw, weight, minutes, field, f"{described} ({basis} weight)"
        )
    if rule.hard_max_mg is not None and raw > rule.hard_max_mg.value:
        raise DoseError(
            field,
            f"{_fmt(raw)} mg is above the protocol hard maximum of {rule.hard_max_mg.value} mg "
            f"({_cite(rule.hard_max_mg)})",
        )

    # Round half up to the dose step, but never above a hard maximum (on the dosing
    # weight or on actual weight, whichever is lower): a dose that would round up past
    # it is rounded down instead.
    step = rule.dose_step_mg.value
    capped_weight = min(used, weight)
    ceiling = rule.hard_max_mg_per_kg.value * capped_weight
    if rule.hard_max_mg is not None:
        ceiling = min(ceiling, rule.hard_max_mg.value)
    if cap_per_hour is not None and minutes is not None:
        ceiling = min(ceiling, cap_per_hour.value * capped_weight * minutes / 60)
    dose = _round_to_step(raw, step)
    if dose > ceiling:
        dose = _round_to_step(ceiling, step, ROUND_FLOOR)
    if dose <= 0:
        raise DoseError(field, f"{_fmt(raw)} mg rounds to nothing at a {step} mg step")

    if requested > rule.max_mg_per_kg.value:
        warnings.append(
            f"{_fmt(requested)} mg/kg is above the usual maximum of {rule.max_mg_per_kg.value} "
            f"mg/kg ({_cite(rule.max_mg_per_kg)})."
        )
    elif requested > rule.default_mg_per_kg.value:
        warnings.append(
            f"{_fmt(requested)} mg/kg is above the protocol default of "
            f"{rule.default_mg_per_kg.value} mg/kg ({_cite(rule.default_mg_per_kg)})."
        )
    if rule.min_total_mg is not None and dose < rule.min_total_mg.value:
        note = f": {rule.min_total_mg.note}" if rule.min_total_mg.note else ""
        warnings.append(
            f"{dose} mg is below {rule.min_total_mg.value} mg ({_cite(rule.min_total_mg)}){note}."
        )

    conc, volume, rate = _preparation(protocol, dose, concentration, minutes)
    return DoseResult(
        protocol_code=protocol.code,
        protocol_version=protocol.version,
        dose_mg=dose,
        requested_mg_per_kg=requested,
        effective_mg_per_kg=_round_to_step(dose / used, _PER_KG_STEP),
        weight_basis=basis,
        weight_used_kg=used,
        actual_weight_kg=weight,
        ideal_weight_kg=ideal,
        concentration_mg_per_ml=conc,
        volume_ml=volume,
        infusion_minutes=minutes,
        rate_ml_per_h=rate,
        devices=None,
        warnings=tuple(warnings),
    )


def _refuse_above_max_on_actual(
    rule: MgPerKgDose,
    raw: Decimal,
    actual: Decimal,
    minutes: int | None,
    field: str,
    requested: str,
) -> None:
    """Refuse a dose whose mg per kg of *actual* weight is above a hard maximum.

    An ideal or adjusted weight above actual (a tall, light patient) gives more mg than
    actual weight would; the hard maximum protects the body that receives the dose, so
    it holds on actual weight too, not only on the dosing weight.
    """
    on_actual = raw / actual
    described = (
        f"{requested} is {_fmt(raw)} mg, which is {_fmt(on_actual)} mg/kg of actual weight "
        f"{actual} kg"
    )
    _refuse_above_caps(rule, on_actual, minutes, field, f"{described}:", f"{described}; over")


def _refuse_above_caps(
    rule: MgPerKgDose,
    mg_per_kg: Decimal,
    minutes: int | None,
    field: str,
    above: str,
    over: str,
) -> None:
    """Refuse `mg_per_kg` above the protocol's hard maximum, or above its hourly cap over
    the infusion's minutes; `above` and `over` begin the two messages."""
    if mg_per_kg > rule.hard_max_mg_per_kg.value:
        raise DoseError(
            field,
            f"{above} above the protocol hard maximum of "
            f"{rule.hard_max_mg_per_kg.value} mg/kg ({_cite(rule.hard_max_mg_per_kg)})",
        )
    cap_per_hour = rule.hard_max_mg_per_kg_per_hour
    if cap_per_hour is not None and minutes is not None:
        if mg_per_kg * 60 / minutes > cap_per_hour.value:
            raise DoseError(
                field,
                f"{over} {minutes} minutes exceeds {cap_per_hour.value} mg/kg/h "
                f"({_cite(cap_per_hour)})",
            )


def _weight_date_warnings(
    rule: MgPerKgDose, measured_on: date | None, today: date | None, warnings: list[str]
) -> None:
    """Append a warning when the weight's date is unknown or older than the protocol allows."""
    if measured_on is None:
        warnings.append("The date the weight was measured is unknown: weigh the patient.")
        return
    # The clinic's local date is the right "today"; UTC is the fallback (off by at most a day).
    current = today or datetime.now(UTC).date()
    if measured_on > current:
        raise DoseError("weight_measured_on", f"weight date {measured_on} is in the future")
    age_days = (current - measured_on).days
    max_days = rule.weight_max_age_days.value
    if age_days > max_days:
        warnings.append(
            f"The weight was measured {age_days} days ago (on {measured_on}), more than "
            f"{max_days} days: weigh the patient."
        )


def _preparation(
    protocol: Protocol, dose: Decimal, concentration: Number | None, minutes: int | None
) -> tuple[Decimal, Decimal, Decimal | None]:
    """Return (concentration, volume, pump rate or None) for a drawn-up dose."""
    prep = protocol.preparation
    if prep is None:  # excluded by schema validation for weight-based protocols
        raise DoseError("concentration_mg_per_ml", f"{protocol.code} has no preparation")
    offered = prep.concentrations_mg_per_ml.values
    conc = (
        offered[0] if concentration is None else _decimal("concentration_mg_per_ml", concentration)
    )
    if conc not in offered:
        listed = ", ".join(f"{c} mg/mL" for c in offered)
        raise DoseError(
            "concentration_mg_per_ml", f"{conc} mg/mL is not offered by {protocol.code} ({listed})"
        )
    volume = _round_to_step(dose / conc, prep.volume_step_ml.value)
    if minutes is None or prep.rate_step_ml_per_h is None:
        return conc, volume, None
    # Pump rate (mL/h) = dose / concentration / (minutes / 60), docs/clinical-sources.md §4.1 (IV racemic ketamine for depression).
    rate = _round_to_step(volume * 60 / minutes, prep.rate_step_ml_per_h.value)
    return conc, volume, rate


def _cite(value: SourcedBase) -> str:
    """Return a value's source for a message, with "[verify]" when docs/clinical-sources.md marks it so."""
    return f"{value.source} [verify]" if value.verify else value.source


def _fmt(value: Decimal) -> str:
    """Return a Decimal for a message: at most 3 decimals, no trailing zeros."""
    rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP).normalize()
    # normalize() turns 40 into 4E+1; format fixed-point instead.
    return format(rounded, "f")
