"""The pre-dose checklist: which items the system checks itself, and how.

The protocol lists the items (``Protocol.checklist_for``). Consent, eligibility and
REMS enrollment come from the screening gate; the questionnaire item from the measures
records (today's responses, open suicidality alerts); pre-dose vitals from the
session's readings and the protocol's pre-dose thresholds; the weight from the
patient record. The nurse confirms the rest. Automatic items are re-evaluated
whenever the checklist is shown or changed while the session is before the dose,
so a consent signed or an alert resolved a minute ago counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from ketaclinic.clinical.monitoring import VitalError, vital_alerts
from ketaclinic.clinical.protocols import ChecklistItem, Protocol
from ketaclinic.measures.models import Alert as MeasureAlert
from ketaclinic.measures.models import Response
from ketaclinic.patients.models import Patient
from ketaclinic.screening import gates
from ketaclinic.treatment.models import TreatmentSession, VitalReading

AUTOMATIC_ITEMS = frozenset(
    {
        "consent_valid",
        "eligibility_accepted",
        "rems_enrolled",
        "questionnaires_done_no_open_suicidality_alert",
        "predose_vitals_in_range",
        "weight_current",
        "liver_tests_current",  # long-term monitoring (treatment/longterm.py)
    }
)
# Checklist item -> the screening gate's code for it (screening/gates.py).
GATE_CODES = {
    "eligibility_accepted": gates.ELIGIBILITY,
    "consent_valid": gates.CONSENT,
    "rems_enrolled": gates.REMS_ENROLLMENT,
}
# Medication classes the nurse reviews before the dose (docs/clinical-sources.md §4.2 (Esketamine nasal spray), checklist item).
REVIEWED_CLASSES = ("benzodiazepine", "nonbenzo_hypnotic", "opioid", "psychostimulant", "maoi")
PREDOSE_SIGNALS = {
    "intranasal": ("systolic_bp", "diastolic_bp"),
    "iv": ("systolic_bp", "diastolic_bp", "heart_rate", "spo2"),
    "im": ("systolic_bp", "diastolic_bp", "heart_rate", "spo2"),
}


@dataclass(frozen=True)
class Finding:
    met: bool
    text: str


def conditions_for(session: TreatmentSession) -> frozenset[str]:
    """The checklist conditions that hold for this session."""
    held = set()
    if session.pregnancy_possible:
        held.add("pregnancy_possible")
    if session.first_session:
        held.add("first_session")
    return frozenset(held)


def items_for(session: TreatmentSession, protocol: Protocol) -> tuple[ChecklistItem, ...]:
    """The session's checklist: the protocol's items for its conditions, then long-term monitoring."""
    from ketaclinic.treatment.longterm import session_items

    return (*protocol.checklist_for(conditions_for(session)), *session_items(session, protocol))


def _hours(value: Decimal) -> str:
    return f"{value.normalize():f}"


def fasting_reported(food_hours: Decimal, liquids_hours: Decimal) -> str:
    return f"Last food {_hours(food_hours)} h ago, last liquids {_hours(liquids_hours)} h ago."


def fasting_finding(
    protocol: Protocol, food_hours: Decimal, liquids_hours: Decimal
) -> Finding | None:
    """Compare the reported fasting with the protocol's times; None when it gives none.

    Esketamine: no food for 2 h and no liquids for 30 min (the protocol file). Where the
    protocol has no numbers (IV: clinic policy), the nurse judges and the hours are kept.
    """
    rule = protocol.fasting
    reported = fasting_reported(food_hours, liquids_hours)
    if rule.no_food_hours is None and rule.no_liquids_minutes is None:
        return None
    problems = []
    if rule.no_food_hours is not None and food_hours < rule.no_food_hours.value:
        problems.append(f"the protocol asks for no food for {_hours(rule.no_food_hours.value)} h")
    if rule.no_liquids_minutes is not None and liquids_hours * 60 < rule.no_liquids_minutes.value:
        problems.append(f"no liquids for {_hours(rule.no_liquids_minutes.value)} min")
    if problems:
        return Finding(False, f"{reported} Not fasted long enough: {' and '.join(problems)}.")
    return Finding(True, reported)


def pregnancy_possible_default(patient: Patient, on: date) -> bool:
    """Female at birth and 12-55 years old: the pregnancy item applies unless the nurse says not."""
    age = patient.age_on(on)
    return patient.sex_at_birth == "female" and 12 <= age <= 55


def automatic_findings(
    session: TreatmentSession, protocol: Protocol, item_ids: set[str], now: datetime
) -> dict[str, Finding]:
    """What the system finds for each automatic item the session's checklist holds."""
    tz = session.clinic.tz
    today = timezone.localdate(now, timezone=tz)
    patient = session.patient
    found: dict[str, Finding] = {}
    gate_items = item_ids & set(GATE_CODES)
    if gate_items:
        missing = gates.missing_items(patient=patient, family=protocol.family, on=today)
        for item in gate_items:
            texts = [m.message for m in missing if m.code == GATE_CODES[item]]
            found[item] = Finding(
                not texts, " ".join(texts) if texts else "Checked against the screening record."
            )
        if found.get("eligibility_accepted", Finding(False, "")).met:
            # An override must stay visible wherever the decision is relied on.
            status = gates.eligibility_status(patient=patient, family=protocol.family)
            found["eligibility_accepted"] = Finding(
                True, f"Eligibility {status.label} (checked against the screening record)."
            )
    if "questionnaires_done_no_open_suicidality_alert" in item_ids:
        start = timezone.make_aware(datetime.combine(today, datetime.min.time()), tz)
        done_today = Response.objects.filter(
            clinic_id=session.clinic_id,
            patient_id=session.patient_id,
            taken_at__gte=start,
            taken_at__lt=start + timedelta(days=1),
        ).exists()
        open_alerts = MeasureAlert.objects.filter(
            clinic_id=session.clinic_id,
            patient_id=session.patient_id,
            status="open",
            # An answered suicidality item and one left blank both need a person first.
            code__in=["suicidality", "suicidality_unanswered"],
        ).count()
        problems = []
        if not done_today:
            problems.append("No questionnaire has been recorded today.")
        if open_alerts:
            problems.append(f"{open_alerts} open suicidality alert(s) must be addressed first.")
        found["questionnaires_done_no_open_suicidality_alert"] = Finding(
            not problems,
            " ".join(problems) or "Questionnaire done today; no open suicidality alert.",
        )
    if "liver_tests_current" in item_ids:
        from ketaclinic.treatment.longterm import liver_finding

        found["liver_tests_current"] = Finding(*liver_finding(session, protocol, today))
    if "predose_vitals_in_range" in item_ids:
        found["predose_vitals_in_range"] = _predose_vitals(session, protocol)
    if "weight_current" in item_ids:
        max_age = getattr(protocol.dose, "weight_max_age_days", None)
        days = max_age.value if max_age is not None else patient.WEIGHT_STALE_DAYS
        measured = patient.weight_measured_on
        if patient.weight_kg is None or measured is None:
            found["weight_current"] = Finding(False, "No weight on record: weigh the patient.")
        elif (today - measured).days > days:
            found["weight_current"] = Finding(
                False,
                f"Weight last measured {measured:%Y-%m-%d}, more than {days} days ago: "
                "weigh the patient today.",
            )
        else:
            found["weight_current"] = Finding(
                True, f"{patient.weight_kg} kg measured {measured:%Y-%m-%d}."
            )
    return found


def _predose_vitals(session: TreatmentSession, protocol: Protocol) -> Finding:
    reading = (
        VitalReading.objects.filter(session=session, phase="pre_dose")
        .order_by("-taken_at", "-pk")
        .first()
    )
    if reading is None:
        return Finding(False, "No pre-dose vital signs recorded yet.")
    values = reading.as_monitoring()
    needed = PREDOSE_SIGNALS.get(session.route, PREDOSE_SIGNALS["iv"])
    missing = [name for name in needed if values.get(name) is None]
    if missing:
        return Finding(False, "Pre-dose reading lacks: " + ", ".join(missing) + ".")
    try:
        alerts = vital_alerts(protocol, values, phase="pre_dose")
    except VitalError as exc:  # stored readings were checked; keep the item failed if not
        return Finding(False, exc.message)
    if alerts:
        return Finding(
            False,
            " ".join(a.message for a in alerts) + " A physician must review before dosing.",
        )
    return Finding(True, f"BP {reading.bp} mmHg and the rest within the protocol's limits.")


def medication_hint(patient: Patient) -> str:
    """The patient's active medications in the reviewed classes (shown to the nurse)."""
    classes = sorted(
        {
            med.med_class
            for med in patient.medications.all()
            if med.is_active and med.med_class in REVIEWED_CLASSES
        }
    )
    if not classes:
        return "No benzodiazepine, hypnotic, opioid, stimulant or MAOI on the medication list."
    return "On the medication list: " + ", ".join(c.replace("_", " ") for c in classes) + "."
