"""The SPRAVATO REMS Patient Monitoring Form, filled from an esketamine session (docs/clinical-sources.md §4.2 (Esketamine nasal spray)).

The form is due within 7 calendar days of the session. Its content is computed from
the session until the nurse signs; at signing it is frozen into `RemsForm.data`
(and signing is refused while a required field is empty). A correction (amendment)
to the signed session recomputes a form not yet submitted; once submitted, the form
shows which reported answers an amendment changed. Keep FORM_VERSION in step with
the form the REMS publishes: the field list below is its content [verify the last
part, occurred/resolved, against the current form].
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ketaclinic.audit.services import record
from ketaclinic.clinical.monitoring import Phase, vital_alerts
from ketaclinic.scheduling.services import course_protocol
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
# What a stopped session may not have been able to observe: answered "not applicable".
UNOBSERVED_WHEN_STOPPED = (
    "minutes_until_ready",
    "vitals_acceptable_end",
    "bp_40_min",
    "bp_end",
    "sedation_occurred",
    "dissociation_occurred",
)
READING_FIELDS = ("systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate")


def ensure_form(session: TreatmentSession) -> RemsForm:
    """The session's form, created when first needed (due 7 days after the session)."""
    day = session.clinic.date_of(
        session.discharged_at or session.dose_started_at or session.started_at
    )
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


def _no_alerts(protocol: Any, reading: VitalReading | None, phase: Phase) -> bool | None:
    if reading is None:
        return None
    return not vital_alerts(protocol, reading.as_monitoring(), phase=phase)


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


def _amendments(session: TreatmentSession) -> dict[tuple[str, str], str]:
    """The latest corrected value of each (target, field) amended on the session."""
    latest: dict[tuple[str, str], str] = {}
    for target, field, value in session.amendments.order_by("at", "pk").values_list(
        "target", "field", "new_value"
    ):
        latest[(target, field)] = value
    return latest


def _amend_reading(reading: VitalReading, amended: dict[tuple[str, str], str]) -> VitalReading:
    """The reading with its amended vital signs in place of the originals (in memory only)."""
    for field in READING_FIELDS:
        value = amended.get((f"reading:{reading.pk}", field))
        if value is not None:
            try:
                setattr(reading, field, int(Decimal(value)))
            except (InvalidOperation, ValueError):
                continue
    value = amended.get((f"reading:{reading.pk}", "temperature_c"))
    if value is not None:
        try:
            reading.temperature_c = Decimal(value)
        except InvalidOperation:
            pass
    return reading


def _amended_time(value: str | None, original: datetime | None) -> datetime | None:
    if value is None:
        return original
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    return parsed if parsed is not None and not timezone.is_naive(parsed) else original


def form_data(session: TreatmentSession, *, amended: bool = True) -> dict[str, Any]:
    """The form's content from the session as it is stored now (None = not known).

    With `amended`, corrections recorded as amendments replace the values they correct
    (lot number, "could have left at", a reading's vital signs).
    """
    protocol = course_protocol(session.course)
    patient = session.patient
    clinic = session.clinic
    administration = getattr(session, "administration", None)
    first_device = session.dose_started_at
    corrections = _amendments(session) if amended else {}
    readings = [_amend_reading(r, corrections) for r in session.readings.order_by("taken_at", "pk")]
    readings = [r for r in readings if r.systolic is not None]
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
    # The end-of-monitoring BP is a later reading than the 40-minute one, never the same.
    later = [r for r in after if at_40 is None or r.taken_at > at_40.taken_at]
    end = later[-1] if later else None
    could_have_left_at = _amended_time(
        corrections.get(("session", "could_have_left_at")), session.could_have_left_at
    )
    lot_number = corrections.get(("session", "lot_number")) or (
        administration.lot_number if administration else None
    )
    observations = list(
        session.observations.filter(kind__in=["moaas", "cadss6"]).order_by("taken_at", "pk")
    )
    moaas = [o.value for o in observations if o.kind == "moaas" and o.value is not None]
    cadss = [o.value for o in observations if o.kind == "cadss6" and o.value is not None]
    resp_alerts = session.alerts.filter(code__in=["desaturation", "bradypnea"]).exists()
    resp_occurred = bool(session.respiratory_depression) or resp_alerts
    end_time = session.discharged_at or _stopped_at(session)
    monitored = (
        int((end_time - first_device).total_seconds() // 60) if end_time and first_device else None
    )
    ready = (
        int((could_have_left_at - first_device).total_seconds() // 60)
        if could_have_left_at and first_device
        else None
    )
    classes = {med.med_class for med in patient.medications.all() if med.is_active}
    missing_gate = gates.missing_items(
        patient=patient, family=protocol.family, on=session.clinic.date_of(session.started_at)
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
        "session_date": timezone.localdate(session.started_at, timezone=clinic.tz).isoformat(),
        "dose": (
            None
            if dose_mg is None
            else (
                f"{int(dose_mg)} mg"
                if dose_mg in (56, 84)
                else f"other ({dose_mg.normalize():f} mg)"
            )
        ),
        "lot_number": lot_number,
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
    stopped_at = _stopped_at(session)
    if stopped_at is not None:
        _not_applicable(data, stopped_at, session.clinic.tz)
    return data


def _not_applicable(data: dict[str, Any], stopped_at: datetime, tz: Any) -> None:
    """Answer what a stopped session could not observe: "Not applicable: stopped at HH:MM".

    Only empty answers are filled, so everything that was observed is reported as it was.
    """
    note = f"Not applicable: session stopped at {timezone.localtime(stopped_at, tz):%H:%M}"
    for key in UNOBSERVED_WHEN_STOPPED:
        if data.get(key) is None:
            data[key] = note
    for what in ("sedation", "dissociation", "respiratory_depression"):
        if data.get(f"{what}_occurred") is True and data.get(f"{what}_resolved") is None:
            data[f"{what}_resolved"] = note


def refresh_unsubmitted(session: TreatmentSession) -> None:
    """Recompute a signed session's form from the session and its amendments, until submitted."""
    RemsForm.objects.filter(session=session, submitted_on__isnull=True).update(
        data=form_data(session)
    )


@dataclass(frozen=True)
class AmendedAnswer:
    field: str
    label: str
    reported: Any
    now: Any


def amended_after_submission(form: RemsForm) -> list[AmendedAnswer]:
    """The submitted answers an amendment has since changed (the REMS needs a correction)."""
    if form.submitted_on is None or not form.data:
        return []
    session = form.session
    if not session.amendments.exists():
        return []
    current, original = form_data(session), form_data(session, amended=False)
    return [
        AmendedAnswer(key, label, form.data.get(key), current.get(key))
        for key, label, _ in FIELDS
        if current.get(key) != original.get(key) and current.get(key) != form.data.get(key)
    ]


def missing_fields(data: dict[str, Any]) -> list[dict[str, str]]:
    """Required fields with no value, and 'resolved' answers owed for what occurred."""
    missing = [
        {"field": key, "label": label}
        for key, label, required in FIELDS
        if required and data.get(key) in (None, "")
    ]
    for what in ("sedation", "dissociation", "respiratory_depression"):
        if data.get(f"{what}_occurred") is True and data.get(f"{what}_resolved") is None:
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


def _number(cell: str) -> bool:
    try:
        return Decimal(cell).is_finite()
    except ArithmeticError:
        return False


def _cell(value: str) -> str:
    """A cell that starts like a formula is quoted so a spreadsheet shows it as text.

    As inventory.reports.write_csv does, except that only a whole cell that is a number
    ("-5") is left alone: "-1 +cmd" is quoted.
    """
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(value):
        return "'" + value
    return value


def as_csv(form: RemsForm) -> str:
    data = data_for(form)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["form_version", "field", "label", "value"])
    for key, label, _required in FIELDS:
        writer.writerow([_cell(form.form_version), key, label, _cell(_display(data.get(key)))])
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
            Paragraph(escape(label), styles["BodyText"]),
            Paragraph(escape(_display(data.get(key))) or "—", styles["BodyText"]),
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
            f"Form version {escape(form.form_version)} · session {form.session_id} · due "
            f"{form.due_on:%Y-%m-%d}"
            + (f" · submitted {form.submitted_on:%Y-%m-%d}" if form.submitted_on else ""),
            styles["Normal"],
        ),
        Spacer(1, 12),
        table,
    ]
    for answer in amended_after_submission(form):
        story.append(
            Paragraph(
                f"Amended after submission: {escape(answer.label)}: reported "
                f"{escape(_display(answer.reported) or '—')}, now "
                f"{escape(_display(answer.now) or '—')}.",
                styles["BodyText"],
            )
        )
    doc.build(story)
    return buffer.getvalue()


def mark_submitted(*, actor: Any, form: RemsForm, submitted_on: date) -> RemsForm:
    """Staff record the day the form was submitted to the REMS."""
    actor.check("rems.manage")
    if submitted_on > form.clinic.today():
        raise ValidationError({"submitted_on": "This date is in the future."})
    if submitted_on < timezone.localdate(form.session.started_at, timezone=form.clinic.tz):
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


SUBMITTED_PER_PAGE = 50


@dataclass(frozen=True)
class Listing:
    overdue: list[RemsForm]
    due: list[RemsForm]
    submitted: Page


def forms_listing(clinic: Any, today: date, *, page: Any = 1) -> Listing:
    """The clinic's forms: every overdue and due one (oldest due first), submitted by page.

    Unsubmitted forms are never cut off: a form due today must show however many old
    ones there are. Submitted forms, which only grow, come a page at a time, recent first.
    """
    forms = RemsForm.objects.for_clinic(clinic).select_related("session__patient")
    unsubmitted = forms.filter(submitted_on__isnull=True).order_by("due_on", "pk")
    submitted = forms.filter(submitted_on__isnull=False).order_by("-submitted_on", "-pk")
    return Listing(
        overdue=list(unsubmitted.filter(due_on__lt=today)),
        due=list(unsubmitted.filter(due_on__gte=today)),
        submitted=Paginator(submitted, SUBMITTED_PER_PAGE).get_page(page),
    )
