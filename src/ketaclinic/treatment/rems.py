"""The SPRAVATO REMS Patient Monitoring Form, filled from an esketamine session (DOMAIN §4.2).

The form is due within 7 calendar days of the session. Its content is computed from
the session until the nurse signs; at signing it is frozen into `RemsForm.data`
(and signing is refused while a required field is empty). Keep FORM_VERSION in step
with the form the REMS publishes: the field list below is its content [verify the
last part, occurred/resolved, against the current form].
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from ketaclinic.clinical.monitoring import vital_alerts
from ketaclinic.screening import gates
from ketaclinic.treatment.models import RemsForm, TreatmentSession, VitalReading

FORM_VERSION = "PMF-2025"
DUE_DAYS = 7
CONCOMITANT_CLASSES = {
    "benzodiazepine": "Benzodiazepines",
    "nonbenzo_hypnotic": "Non-benzodiazepine sleep medicines",
    "psychostimulant": "Psychostimulants",
    "maoi": "MAOIs",
    "opioid": "Opioids",
}
# (key, label, required)
FIELDS: list[tuple[str, str, bool]] = [
    ("patient_name", "Patient name", True),
    ("birth_date", "Date of birth", True),
    ("sex", "Sex", True),
    ("first_treatment", "First treatment session", True),
    ("rems_enrolled", "Enrolled in the REMS", True),
    *[
        (f"concomitant_{code}", f"Concomitant: {label}", True)
        for code, label in CONCOMITANT_CLASSES.items()
    ],
    ("clinician_name", "Monitoring clinician", True),
    ("clinician_phone", "Clinician phone", True),
    ("clinician_email", "Clinician e-mail", True),
    ("setting_name", "Setting name", True),
    ("setting_address", "Setting address", True),
    ("session_date", "Date of session", True),
    ("dose", "Dose", True),
    ("lot_number", "Lot number", True),
    ("minutes_monitored", "Total minutes from first device to end of monitoring", True),
    ("minutes_until_ready", "Minutes until ready to leave without the 2-hour rule", True),
    ("vitals_acceptable_before", "Vital signs acceptable before dosing", True),
    ("vitals_acceptable_end", "Vital signs acceptable at the end of monitoring", True),
    ("bp_before", "BP before dosing (mmHg)", True),
    ("bp_40_min", "BP about 40 minutes after dosing (mmHg)", True),
    ("bp_end", "BP at the end of monitoring (mmHg)", True),
    ("sedation_occurred", "Sedation occurred", True),
    ("sedation_resolved", "Sedation resolved", False),
    ("dissociation_occurred", "Dissociation occurred", True),
    ("dissociation_resolved", "Dissociation resolved", False),
    ("respiratory_depression_occurred", "Respiratory depression occurred", True),
    ("respiratory_depression_resolved", "Respiratory depression resolved", False),
]
LABELS = {key: label for key, label, _ in FIELDS}


def ensure_form(session: TreatmentSession) -> RemsForm:
    """The session's form, created when first needed (due 7 days after the session)."""
    day = timezone.localdate(session.discharged_at or session.dose_started_at or session.started_at)
    form, _ = RemsForm.objects.get_or_create(
        session=session,
        defaults={
            "clinic_id": session.clinic_id,
            "form_version": FORM_VERSION,
            "due_on": day + timedelta(days=DUE_DAYS),
        },
    )
    return form


def _bp(reading: VitalReading | None) -> str | None:
    if reading is None or reading.systolic is None or reading.diastolic is None:
        return None
    return f"{reading.systolic}/{reading.diastolic}"


def _no_alerts(protocol: Any, reading: VitalReading | None, phase: str) -> bool | None:
    if reading is None:
        return None
    return not vital_alerts(protocol, reading.as_monitoring(), phase=phase)  # type: ignore[arg-type]


def _stopped_at(session: TreatmentSession) -> datetime | None:
    """When a stopped session was stopped: its monitoring ended there."""
    if session.state != "stopped":
        return None
    return (
        session.events.filter(kind="transition", to_state="stopped")
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )


def form_data(session: TreatmentSession) -> dict[str, Any]:
    """The form's content from the session as it is stored now (None = not known)."""
    from ketaclinic.treatment.services import session_protocol

    protocol = session_protocol(session)
    patient = session.patient
    clinic = session.clinic
    administration = getattr(session, "administration", None)
    first_device = session.dose_started_at
    readings = list(session.readings.exclude(systolic=None).order_by("taken_at", "pk"))
    before = [r for r in readings if r.phase == "pre_dose"]
    after = [r for r in readings if r.phase == "during"]
    at_40 = None
    if first_device is not None:
        target = first_device + timedelta(minutes=40)
        window = [
            r
            for r in after
            if first_device + timedelta(minutes=25)
            <= r.taken_at
            <= first_device + timedelta(minutes=60)
        ]
        at_40 = min(window, key=lambda r: abs(r.taken_at - target), default=None)
    end = after[-1] if after else None
    observations = list(
        session.observations.filter(kind__in=["moaas", "cadss6"]).order_by("taken_at", "pk")
    )
    moaas = [o.value for o in observations if o.kind == "moaas"]
    cadss = [o.value for o in observations if o.kind == "cadss6"]
    resp_alerts = session.alerts.filter(code__in=["desaturation", "bradypnea"]).exists()
    resp_occurred = bool(session.respiratory_depression) or resp_alerts
    end_time = session.discharged_at or _stopped_at(session)
    monitored = (
        int((end_time - first_device).total_seconds() // 60) if end_time and first_device else None
    )
    ready = (
        int((session.could_have_left_at - first_device).total_seconds() // 60)
        if session.could_have_left_at and first_device
        else None
    )
    classes = {med.med_class for med in patient.medications.all() if med.is_active}
    missing_gate = gates.missing_items(
        patient=patient, family=protocol.family, on=timezone.localdate(session.started_at)
    )
    enrolled = all(m.code != gates.REMS_ENROLLMENT for m in missing_gate)
    clinician = session.started_by
    dose_mg = None
    if administration is not None:
        dose_mg = administration.total_given_mg or administration.dose_mg
    data: dict[str, Any] = {
        "patient_name": f"{patient.given_name} {patient.family_name}",
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.get_sex_at_birth_display(),
        "first_treatment": session.first_session,
        "rems_enrolled": enrolled,
        **{f"concomitant_{code}": code in classes for code in CONCOMITANT_CLASSES},
        "clinician_name": clinician.get_full_name() or clinician.username,
        "clinician_phone": clinic.phone or None,
        "clinician_email": clinician.email or None,
        "setting_name": clinic.name,
        "setting_address": clinic.address or None,
        "session_date": timezone.localdate(session.started_at).isoformat(),
        "dose": (
            None
            if dose_mg is None
            else (f"{int(dose_mg)} mg" if int(dose_mg) in (56, 84) else f"other ({dose_mg:g} mg)")
        ),
        "lot_number": administration.lot_number if administration else None,
        "minutes_monitored": monitored,
        "minutes_until_ready": ready,
        "vitals_acceptable_before": _no_alerts(
            protocol, before[-1] if before else None, "pre_dose"
        ),
        "vitals_acceptable_end": _no_alerts(protocol, end, "during"),
        "bp_before": _bp(before[-1] if before else None),
        "bp_40_min": _bp(at_40),
        "bp_end": _bp(end),
        "sedation_occurred": (any(v < 5 for v in moaas) if moaas else None),
        "sedation_resolved": (moaas[-1] == 5) if moaas and any(v < 5 for v in moaas) else None,
        "dissociation_occurred": (any(v > 0 for v in cadss) if cadss else None),
        "dissociation_resolved": (
            session.dissociation_resolved if cadss and any(v > 0 for v in cadss) else None
        ),
        "respiratory_depression_occurred": resp_occurred,
        "respiratory_depression_resolved": (
            _no_alerts(protocol, end, "during") if resp_occurred else None
        ),
    }
    return data


def missing_fields(data: dict[str, Any]) -> list[dict[str, str]]:
    """Required fields with no value, and 'resolved' answers owed for what occurred."""
    missing = [
        {"field": key, "label": label}
        for key, label, required in FIELDS
        if required and data.get(key) in (None, "")
    ]
    for what in ("sedation", "dissociation", "respiratory_depression"):
        if data.get(f"{what}_occurred") and data.get(f"{what}_resolved") is None:
            key = f"{what}_resolved"
            missing.append({"field": key, "label": LABELS[key]})
    return missing


def data_for(form: RemsForm) -> dict[str, Any]:
    """The frozen content once signed, else the content as the session stands now."""
    return form.data or form_data(form.session)


def status_of(form: RemsForm, today: date) -> str:
    if form.submitted_on is not None:
        return "submitted"
    return "overdue" if today > form.due_on else "due"


def _display(value: Any) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if value is None:
        return ""
    return str(value)


def as_csv(form: RemsForm) -> str:
    data = data_for(form)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["form_version", "field", "label", "value"])
    for key, label, _required in FIELDS:
        writer.writerow([form.form_version, key, label, _display(data.get(key))])
    return out.getvalue()


def as_pdf(form: RemsForm) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    data = data_for(form)
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(buffer, pagesize=letter, title="SPRAVATO REMS Patient Monitoring Form")
    rows = [["Field", "Answer"]] + [
        [
            Paragraph(label, styles["BodyText"]),
            Paragraph(_display(data.get(key)) or "—", styles["BodyText"]),
        ]
        for key, label, _ in FIELDS
    ]
    table = Table(rows, colWidths=[300, 200])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story = [
        Paragraph("SPRAVATO® REMS Patient Monitoring Form", styles["Title"]),
        Paragraph(
            f"Form version {form.form_version} · session {form.session_id} · due {form.due_on:%Y-%m-%d}"
            + (f" · submitted {form.submitted_on:%Y-%m-%d}" if form.submitted_on else ""),
            styles["Normal"],
        ),
        Spacer(1, 12),
        table,
    ]
    doc.build(story)
    return buffer.getvalue()


def mark_submitted(*, actor: Any, form: RemsForm, submitted_on: date) -> RemsForm:
    """Staff record the day the form was submitted to the REMS."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from ketaclinic.audit.services import record

    actor.check("rems.manage")
    if submitted_on > timezone.localdate():
        raise ValidationError({"submitted_on": "This date is in the future."})
    if submitted_on < timezone.localdate(form.session.started_at):
        raise ValidationError({"submitted_on": "This is before the session."})
    if not form.session.is_signed:
        raise ValidationError({"submitted_on": "Sign the session first: the form is not final."})
    with transaction.atomic():
        form.submitted_on = submitted_on
        form.submitted_by = actor.user
        form.save(update_fields=["submitted_on", "submitted_by"])
        record(
            actor,
            "rems_submitted",
            patient_id=form.session.patient_id,
            obj=form,
            detail={"session": form.session_id},
        )
    return form


def forms_listing(clinic: Any, today: date) -> dict[str, list[RemsForm]]:
    """The clinic's forms grouped into overdue, due and submitted (recent first)."""
    forms = list(
        RemsForm.objects.for_clinic(clinic)
        .select_related("session__patient")
        .order_by("due_on", "pk")[:500]
    )
    groups: dict[str, list[RemsForm]] = {"overdue": [], "due": [], "submitted": []}
    for form in forms:
        groups[status_of(form, today)].append(form)
    groups["submitted"].sort(key=lambda f: f.submitted_on or today, reverse=True)
    return groups
