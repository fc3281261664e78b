"""Treatment protocols as data: dose rule, schedule, monitoring, discharge, checklist.

``load_protocols()`` returns the validated shipped protocols (and a clinic's own,
from ``extra_dirs``) keyed by code; each carries a ``version`` that stored results
should record next to the code.
"""

from __future__ import annotations

from .loader import (
    DEFINITIONS_DIR,
    ProtocolError,
    load_protocol_file,
    load_protocol_text,
    load_protocols,
    protocol_text_hash,
)
from .schema import (
    ChecklistItem,
    CheckPlan,
    Discharge,
    FixedDose,
    MgPerKgDose,
    MonitoringPlan,
    Phase,
    Protocol,
    Threshold,
)

__all__ = [
    "DEFINITIONS_DIR",
    "CheckPlan",
    "ChecklistItem",
    "Discharge",
    "FixedDose",
    "MgPerKgDose",
    "MonitoringPlan",
    "Phase",
    "Protocol",
    "ProtocolError",
    "Threshold",
    "load_protocol_file",
    "load_protocol_text",
    "load_protocols",
    "protocol_text_hash",
]
