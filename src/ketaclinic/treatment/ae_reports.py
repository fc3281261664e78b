"""Adverse-event reports: FDA MedWatch Form 3500 and, for esketamine, the REMS report.

A serious adverse event (or one a physician marks reportable) owes a voluntary FDA
MedWatch Form 3500 [DOMAIN §10] and, for esketamine, a report of the suspected
adverse event to the SPRAVATO REMS [REMS-IN; DOMAIN §10]. The report rows are created
at once; what the record knows (patient initials and age, drug, dose, lot, dates,
the event, outcome, reporter) is pre-filled from the session each time the report is
shown, and the reporter adds the narrative (description, relevant tests, history, the
Form 3500 outcome boxes). A report is *due* until its draft is saved, *drafted* until
someone records the day it was submitted (and by whom), then *submitted*.

A serious event also reaches the clinic at once: an urgent alert on the session (the
chair board shows it at the chair) and an urgent alert on the physicians' alert list,
which a person closes; the physicians are e-mailed on commit (the worker retries the
alert's e-mail if the mail server fails).

The Form 3500 field list follows the FDA's voluntary form (https://www.fda.gov/media/76299/download,
sections A patient, B adverse event, D suspect product, F other products, G reporter)
[verify against the current edition]. The REMS takes adverse-event reports by
telephone (1-855-382-6022) [REMS-IN]: our sources give no REMS form, so the REMS
report is a summary sheet for that call or a fax, versioned as ours.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.audit.services import record
from ketaclinic.measures.models import Alert, AlertLevel, AlertStatus
from ketaclinic.scheduling.services import clinic_today
from ketaclinic.treatment.models import (
    INTERVENTIONS,
    AdverseEvent,
    AdverseEventReport,
    SessionAlert,
    TreatmentSession,
)

__all__ = [
    "OUTCOMES",
    "REMS_AE_PHONE",
    "Listing",
    "as_pdf",
    "get_report_for",
    "mark_reportable",
    "mark_submitted",
    "missing",
    "prefilled",
    "reports_listing",
    "save_draft",
    "serious_event_recorded",
]

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


# --- creating reports ------------------------------------------------------------------------


def _create(
    *, actor: Actor, event: AdverseEvent, session: TreatmentSession, reason: str, note: str = ""
) -> list[AdverseEventReport]:
    """The event's reports (MedWatch; and REMS for esketamine), created once each."""
    kinds = [AdverseEventReport.Kind.MEDWATCH]
    if session.is_esketamine:
        kinds.append(AdverseEventReport.Kind.REMS)
    now = timezone.now()
    made = []
    for kind in kinds:
        report, created = AdverseEventReport.objects.get_or_create(
            event=event,
            kind=kind,
            defaults={
                "clinic_id": session.clinic_id,
                "reason": reason,
                "reason_note": note[:500],
                "created_by": actor.user,
                "created_at": now,
            },
        )
        if created:
            record(
                actor,
                "ae_report_due",
                patient_id=session.patient_id,
                obj=report,
                detail={"event": event.pk, "kind": kind, "reason": reason},
            )
        made.append(report)
    return made


def serious_event_recorded(*, actor: Actor, session: TreatmentSession, event: AdverseEvent) -> None:
    """A serious event was recorded (inside its transaction): alerts now, reports due.

    The session alert shows at the chair on the board; the measures alert puts it on
    the physicians' alert list until a person closes it. One e-mail goes on commit.
    """
    now = timezone.now()
    what = event.get_type_display()
    SessionAlert.objects.create(
        session=session,
        code=ALERT_CODE,
        level="urgent",
        message=f"Serious adverse event: {what} ({event.get_severity_display().lower()}). "
        "The physician assesses now; the MedWatch report is due.",
        rule_id="serious-adverse-event",
        raised_at=event.onset_at,
    )
    alert = Alert.objects.create(
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        response=None,
        origin=f"Treatment session {session.pk}",
        code=ALERT_CODE,
        level=AlertLevel.URGENT,
        message=f"Serious adverse event in treatment session {session.pk}: {what} "
        f"({event.get_severity_display().lower()}, {event.get_outcome_display().lower()}). "
        "Assess the patient and complete the adverse-event report(s).",
        opened_at=now,
    )
    _create(actor=actor, event=event, session=session, reason=AdverseEventReport.Reason.SERIOUS)
    clinic_id, session_id, event_id, alert_id = session.clinic_id, session.pk, event.pk, alert.pk
    transaction.on_commit(
        lambda: notify(
            clinic_id=clinic_id, session_id=session_id, event_id=event_id, alert_id=alert_id
        )
    )


def notify(*, clinic_id: int, session_id: int, event_id: int, alert_id: int) -> int:
    """E-mail the physicians (ids and a link only); the alert counts as notified once it went."""
    from ketaclinic.treatment.services import notify_serious_event

    sent = notify_serious_event(clinic_id=clinic_id, session_id=session_id, event_id=event_id)
    if sent:
        Alert.objects.filter(pk=alert_id, notified_at__isnull=True).update(
            notified_at=timezone.now()
        )
    return sent


def mark_reportable(
    *, actor: Actor, session: TreatmentSession, event_id: Any, reason: str
) -> list[AdverseEventReport]:
    """A physician marks an event reportable (with the reason): its reports become due."""
    actor.check("medical.sign")
    reason = (reason or "").replace("\x00", "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this event is reported."})
    if len(reason) > 500:
        raise ValidationError({"reason": "Keep the reason under 500 characters."})
    try:
        pk = int(event_id)
    except (TypeError, ValueError):
        raise Http404("No such adverse event.") from None
    with transaction.atomic():
        event = session.adverse_events.select_for_update().filter(pk=pk).first()
        if event is None:
            raise Http404("No such adverse event in this session.")
        if event.reports.exists():
            raise ValidationError({"reason": "This event already has its report(s)."})
        return _create(
            actor=actor,
            event=event,
            session=session,
            reason=AdverseEventReport.Reason.PHYSICIAN,
            note=reason,
        )


# --- reading ---------------------------------------------------------------------------------


def _report_patient(report: AdverseEventReport) -> int:
    return int(report.event.session.patient_id)


def get_report_for(
    actor: Actor, report_id: Any, action: str = "aereport.view", *, read: bool = False
) -> AdverseEventReport:
    """The report with this id in the actor's clinic, or 404 (`read`: audit the read here)."""
    return get_for(
        actor,
        AdverseEventReport,
        report_id,
        action,
        related=(
            "event__session__patient",
            "event__session__course",
            "event__session__clinic",
            "event__session__administration",
            "event__recorded_by",
            "created_by",
            "drafted_by",
            "submitted_by",
        ),
        what="report",
        read=read,
        patient_of=_report_patient,
    )


SUBMITTED_PER_PAGE = 50


@dataclass(frozen=True)
class Listing:
    due: list[AdverseEventReport]
    drafted: list[AdverseEventReport]
    submitted: Page


def reports_listing(clinic: Any, *, page: Any = 1) -> Listing:
    """Every due and drafted report (oldest first), submitted ones a page at a time."""
    rows = AdverseEventReport.objects.for_clinic(clinic).select_related(
        "event__session__patient", "submitted_by", "drafted_by"
    )
    open_rows = rows.filter(submitted_on__isnull=True).order_by("created_at", "pk")
    return Listing(
        due=list(open_rows.filter(drafted_at__isnull=True)),
        drafted=list(open_rows.filter(drafted_at__isnull=False)),
        submitted=Paginator(
            rows.filter(submitted_on__isnull=False).order_by("-submitted_on", "-pk"),
            SUBMITTED_PER_PAGE,
        ).get_page(page),
    )


# --- the content -------------------------------------------------------------------------------


def _initials(patient: Any) -> str:
    return "".join(part[:1].upper() for part in (patient.given_name, patient.family_name) if part)


def _person(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username


def _local(value: datetime | None, tz: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(value, tz).strftime(fmt) if value else ""


def _first_dose_on(session: TreatmentSession) -> datetime | None:
    return (
        TreatmentSession.objects.filter(course_id=session.course_id, dose_started_at__isnull=False)
        .order_by("dose_started_at")
        .values_list("dose_started_at", flat=True)
        .first()
    )


def prefilled(report: AdverseEventReport) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The report's content as sections of (key, label, value); "" = not known.

    Pre-filled from the record as it stands now, plus the reporter's draft; once
    submitted the same function shows what was sent (the record is signed by then and
    changes only by amendment, which the session page shows).
    """
    event = report.event
    session = event.session
    patient = session.patient
    clinic = session.clinic
    tz = clinic.tz
    administration = getattr(session, "administration", None)
    draft = report.draft or {}
    onset_day = timezone.localdate(event.onset_at, timezone=tz)
    from ketaclinic.scheduling.services import course_protocol

    protocol = course_protocol(session.course)
    first = _first_dose_on(session)
    dose = ""
    product = "Esketamine (SPRAVATO) nasal spray" if session.is_esketamine else "Ketamine"
    strength = ""
    lot = ""
    if administration is not None:
        given = administration.total_given_mg or administration.dose_mg
        dose = f"{given.normalize():f} mg"
        if administration.dose_mg_per_kg:
            dose += f" ({administration.dose_mg_per_kg.normalize():f} mg/kg)"
        product = administration.product or product
        lot = administration.lot_number
        if administration.concentration_mg_per_ml:
            strength = f"{administration.concentration_mg_per_ml.normalize():f} mg/mL"
    if session.is_esketamine:
        strength = strength or "28 mg per device"
    conditions = [str(c) for c in patient.conditions.filter(is_active=True).order_by("pk")[:6]]
    concomitant = [str(m) for m in patient.medications.filter(is_active=True).order_by("pk")[:12]]
    reporter = report.drafted_by or report.created_by
    outcomes = [OUTCOMES[o] for o in draft.get("outcomes", []) if o in OUTCOMES]
    if "death" in draft.get("outcomes", []) and draft.get("death_date"):
        outcomes[0] = f"Death ({draft['death_date']})"
    interventions = [INTERVENTIONS.get(i, i) for i in event.interventions]
    record_text = ", ".join(
        filter(
            None,
            [
                f"{event.get_type_display()} ({event.get_severity_display().lower()})",
                f"onset {_local(event.onset_at, tz, '%H:%M')}",
                ("interventions: " + "; ".join(interventions)) if interventions else "",
                f"drug given: {event.drug_given}" if event.drug_given else "",
                f"outcome in clinic: {event.get_outcome_display().lower()}",
            ],
        )
    )
    sections: list[tuple[str, list[tuple[str, str, str]]]] = [
        (
            "A. Patient information",
            [
                ("patient_initials", "Patient identifier (initials)", _initials(patient)),
                ("age", "Age at time of event", f"{patient.age_on(onset_day)} years"),
                ("sex", "Sex", patient.get_sex_at_birth_display()),
                (
                    "weight",
                    "Weight",
                    f"{patient.weight_kg.normalize():f} kg" if patient.weight_kg else "",
                ),
            ],
        ),
        (
            "B. Adverse event",
            [
                ("serious", "Serious", "Yes" if event.serious else "No (marked reportable)"),
                ("outcomes", "Outcome attributed to the event", "; ".join(outcomes)),
                ("event_date", "Date of event", onset_day.isoformat()),
                (
                    "report_date",
                    "Date of this report",
                    (report.submitted_on or clinic_today(clinic)).isoformat(),
                ),
                ("recorded", "Event as recorded in the session", record_text),
                ("description", "Describe event or problem", draft.get("description", "")),
                ("tests", "Relevant tests / laboratory data", draft.get("tests", "")),
                ("history", "Other relevant history", draft.get("history", "")),
            ],
        ),
        (
            "D. Suspect product",
            [
                ("product", "Name", product),
                ("strength", "Strength", strength),
                ("dose", "Dose", dose),
                (
                    "route",
                    "Route",
                    {"iv": "Intravenous", "im": "Intramuscular"}.get(session.route, "Intranasal"),
                ),
                ("frequency", "Frequency / regimen", protocol.title),
                (
                    "therapy_dates",
                    "Therapy dates (first dose in this course to this session)",
                    " to ".join(
                        filter(
                            None,
                            [
                                _local(first, tz, "%Y-%m-%d"),
                                _local(
                                    session.dose_started_at or session.started_at, tz, "%Y-%m-%d"
                                ),
                            ],
                        )
                    ),
                ),
                ("indication", "Diagnosis for use (indication)", "; ".join(conditions)),
                ("lot", "Lot number", lot),
            ],
        ),
        (
            "F. Other (concomitant) medical products",
            [("concomitant", "Current medications", "; ".join(concomitant) or "None recorded")],
        ),
        (
            "G. Reporter",
            [
                ("reporter_name", "Name", _person(reporter)),
                ("reporter_email", "E-mail", getattr(reporter, "email", "") or ""),
                ("reporter_phone", "Phone (clinic)", clinic.phone),
                (
                    "reporter_address",
                    "Address (clinic)",
                    f"{clinic.name}\n{clinic.address}".strip(),
                ),
                ("health_professional", "Health professional", "Yes"),
            ],
        ),
    ]
    if report.kind == AdverseEventReport.Kind.REMS:
        sections.insert(
            0,
            (
                "SPRAVATO REMS",
                [
                    ("setting", "Certified healthcare setting", clinic.name),
                    (
                        "rems_certification",
                        "REMS certification number",
                        clinic.rems_certification_number,
                    ),
                    ("session_date", "Treatment session", _local(session.started_at, tz)),
                    ("first_device", "First device", _local(session.dose_started_at, tz)),
                    ("discharged", "End of monitoring", _local(session.discharged_at, tz)),
                    (
                        "report_to",
                        "Report to",
                        f"SPRAVATO REMS, phone {REMS_AE_PHONE}, fax {REMS_FAX}",
                    ),
                ],
            ),
        )
    return sections


# What a report needs before it can be called complete (and recorded as submitted).
REQUIRED = (
    "patient_initials",
    "age",
    "sex",
    "event_date",
    "description",
    "product",
    "dose",
    "lot",
    "reporter_name",
    "reporter_phone",
)


def missing(report: AdverseEventReport) -> list[dict[str, str]]:
    """The required fields still empty (field key and label)."""
    values = {key: (label, value) for _t, rows in prefilled(report) for key, label, value in rows}
    return [
        {"field": key, "label": values[key][0]}
        for key in REQUIRED
        if key in values and not str(values[key][1]).strip()
    ]


# --- writes -------------------------------------------------------------------------------------


def _text(value: Any, field: str, errors: dict[str, str]) -> str:
    text = str(value or "").replace("\x00", "").strip()
    if len(text) > MAX_TEXT:
        errors[field] = f"Keep this under {MAX_TEXT} characters."
    return text


def save_draft(
    *,
    actor: Actor,
    report: AdverseEventReport,
    description: Any,
    tests: Any = "",
    history: Any = "",
    outcomes: Any = (),
    death_date: date | None = None,
) -> AdverseEventReport:
    """Save the reporter's part of the report; the report is then drafted (422 naming fields)."""
    actor.check("aereport.draft")
    errors: dict[str, str] = {}
    description = _text(description, "description", errors)
    tests = _text(tests, "tests", errors)
    history = _text(history, "history", errors)
    if not description and "description" not in errors:
        errors["description"] = "Describe the event: what happened, when, and what was done."
    if isinstance(outcomes, str) or not all(isinstance(o, str) for o in outcomes or ()):
        errors["outcomes"] = "Choose outcomes from the list."
        outcomes = []
    chosen = sorted(set(outcomes or ()))
    bad = [o for o in chosen if o not in OUTCOMES]
    if bad:
        errors["outcomes"] = "Unknown outcome(s): " + ", ".join(bad[:5])[:200] + "."
    event_day = timezone.localdate(report.event.onset_at, timezone=report.clinic.tz)
    if "death" in chosen:
        if death_date is None:
            errors["death_date"] = "Enter the date of death."
        elif death_date < event_day or death_date > clinic_today(report.clinic):
            errors["death_date"] = "The date of death must lie between the event and today."
    elif death_date is not None:
        errors["death_date"] = "A date of death goes only with the outcome Death."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = AdverseEventReport.objects.select_for_update().get(pk=report.pk)
        if locked.submitted_on is not None:
            raise ValidationError({"description": "This report was submitted; it cannot change."})
        locked.draft = {
            "description": description,
            "tests": tests,
            "history": history,
            "outcomes": chosen,
            **({"death_date": death_date.isoformat()} if death_date else {}),
        }
        locked.drafted_by = actor.user
        locked.drafted_at = timezone.now()
        locked.save(update_fields=["draft", "drafted_by", "drafted_at"])
        record(
            actor,
            "ae_report_draft",
            patient_id=locked.event.session.patient_id,
            obj=locked,
            detail={"kind": locked.kind, "outcomes": chosen},
        )
    report.refresh_from_db()
    return report


def mark_submitted(
    *, actor: Actor, report: AdverseEventReport, submitted_on: date | None, reference: Any = ""
) -> AdverseEventReport:
    """Record the day the report was sent (and by whom); it needs a complete draft."""
    actor.check("aereport.submit")
    errors: dict[str, str] = {}
    reference = str(reference or "").replace("\x00", "").strip()
    if len(reference) > 100:
        errors["reference"] = "Keep the reference under 100 characters."
    event_day = timezone.localdate(report.event.onset_at, timezone=report.clinic.tz)
    if submitted_on is None:
        errors["submitted_on"] = "Enter the day the report was sent."
    elif submitted_on > clinic_today(report.clinic):
        errors["submitted_on"] = "This date is in the future."
    elif submitted_on < event_day:
        errors["submitted_on"] = "This is before the event."
    if report.drafted_at is None:
        errors["submitted_on"] = "Save the draft first: the report has no description yet."
    elif not errors:
        gaps = missing(report)
        if gaps:
            errors["submitted_on"] = (
                "Complete the report first: " + ", ".join(g["label"] for g in gaps) + "."
            )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = AdverseEventReport.objects.select_for_update().get(pk=report.pk)
        if locked.submitted_on is not None:
            raise ValidationError({"submitted_on": "This report is already recorded as submitted."})
        locked.submitted_on = submitted_on
        locked.submitted_by = actor.user
        locked.submitted_at = timezone.now()
        locked.reference = reference
        locked.save(update_fields=["submitted_on", "submitted_by", "submitted_at", "reference"])
        record(
            actor,
            "ae_report_submitted",
            patient_id=locked.event.session.patient_id,
            obj=locked,
            detail={"kind": locked.kind},
        )
    report.refresh_from_db()
    return report


def open_alert_for(report: AdverseEventReport) -> Alert | None:
    """The open physicians' alert the event raised, if still open."""
    return Alert.objects.filter(
        clinic_id=report.clinic_id,
        patient_id=report.event.session.patient_id,
        code=ALERT_CODE,
        origin=f"Treatment session {report.event.session_id}",
        status=AlertStatus.OPEN,
    ).first()


# --- the PDF ------------------------------------------------------------------------------------


def as_pdf(report: AdverseEventReport) -> bytes:
    """The report as a PDF (Letter): the form's sections with the record's values."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    medwatch = report.kind == AdverseEventReport.Kind.MEDWATCH
    title = (
        "MedWatch Form FDA 3500 — voluntary adverse event report (pre-filled)"
        if medwatch
        else "SPRAVATO® REMS — suspected adverse event report"
    )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        title=title,
        leftMargin=48,
        rightMargin=48,
        topMargin=42,
        bottomMargin=42,
    )
    status = {
        "due": "DUE — not yet reviewed by a clinician",
        "drafted": "DRAFT — reviewed, not yet submitted",
        "submitted": f"Submitted {report.submitted_on} by {_person(report.submitted_by)}"
        + (f" (reference {report.reference})" if report.reference else ""),
    }[report.status]
    story: list[Any] = [
        Paragraph(escape(title), styles["Title"]),
        Paragraph(
            escape(
                f"{MEDWATCH_FORM if medwatch else REMS_FORM} · report {report.pk} · "
                f"adverse event {report.event_id} · session {report.event.session_id} · {status}"
            ),
            styles["Normal"],
        ),
        Spacer(1, 10),
    ]
    body = styles["BodyText"]
    for heading, rows in prefilled(report):
        title_row = Paragraph(escape(heading), styles["Heading3"])
        table = Table(
            [
                [
                    Paragraph(escape(label), body),
                    Paragraph(escape(value).replace("\n", "<br/>") if value else "—", body),
                ]
                for _key, label, value in rows
            ],
            colWidths=[170, 346],
        )
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f4f7")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(KeepTogether([title_row, table]))  # never a heading alone at a page foot
    gaps = missing(report)
    story.append(Spacer(1, 10))
    if gaps:
        story.append(
            Paragraph(escape("Still missing: " + ", ".join(g["label"] for g in gaps) + "."), body)
        )
    note = (
        "Submit online at www.fda.gov/medwatch or on Form FDA 3500 as the FDA directs. "
        "Prepared from the clinic record by ketaclinic."
        if medwatch
        else f"Report to the SPRAVATO REMS by phone {REMS_AE_PHONE} or fax {REMS_FAX}. "
        "Prepared from the clinic record by ketaclinic."
    )
    story.append(Paragraph(escape(note), styles["Italic"]))
    doc.build(story)
    return buffer.getvalue()
