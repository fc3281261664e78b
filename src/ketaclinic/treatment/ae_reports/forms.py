"""The report forms' names, the REMS numbers, the limits and the outcome words."""

from __future__ import annotations

MEDWATCH_FORM = "FDA Form 3500 (voluntary)"
REMS_FORM = "ketaclinic REMS AE summary v1"
REMS_AE_PHONE = "1-855-382-6022"  # REMS-IN: report suspected adverse events to the REMS
REMS_FAX = "1-877-778-0091"  # REMS-OUT / HCS-ENR: the REMS fax line
MAX_TEXT = 4000
ALERT_CODE = "serious_adverse_event"
# Form 3500 section B.2, "Outcome attributed to adverse event" (check all that apply).
OUTCOMES = {
    "death": "Death",
    "life_threatening": "Life-threatening",
    "hospitalization": "Hospitalization (initial or prolonged)",
    "disability": "Disability or permanent damage",
    "congenital_anomaly": "Congenital anomaly / birth defect",
    "required_intervention": "Required intervention to prevent permanent impairment or damage",
    "other_serious": "Other serious (important medical event)",
}
