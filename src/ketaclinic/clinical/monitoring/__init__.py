"""Session monitoring: plausibility, vital-sign alerts, due checks, discharge, device spacing.

Every threshold and time comes from the protocol's data file (``protocols/definitions``);
this module only applies them. All datetimes must be timezone-aware.

A reading is a mapping of signal names to numbers; a missing key or ``None`` means
"not measured". Accepted keys: ``systolic_bp``, ``diastolic_bp`` (mmHg),
``heart_rate`` (/min), ``spo2`` (%), ``respiratory_rate`` (/min), ``temperature_c``
(°C), ``moaas`` (0-5), ``cadss6`` (0-24). Any other key is refused, so a misspelt
key cannot leave a value unchecked.

The parts: ``vitals`` (plausibility and alerts), ``checks`` (due checks and device
spacing) and ``discharge`` (the discharge criteria).
"""

from __future__ import annotations

from .checks import DueCheck, device_spacing_warnings, due_checks
from .discharge import UnmetCriterion, discharge_check, earliest_discharge_at
from .vitals import (
    LEVEL_ORDER,
    PLAUSIBLE_RANGES,
    Alert,
    Phase,
    PlausibleRange,
    VitalError,
    check_plausible,
    vital_alerts,
)

__all__ = [
    "LEVEL_ORDER",
    "PLAUSIBLE_RANGES",
    "Alert",
    "DueCheck",
    "Phase",
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
