"""Reading reports, and what the record pre-fills and what is still missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.utils import timezone

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.treatment.models import (
    INTERVENTIONS,
    AdverseEventReport,
    TreatmentSession,
)

from .forms import OUTCOMES, REMS_AE_PHONE, REMS_FAX

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
                    (report.submitted_on or clinic.today()).isoformat(),
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
