"""Saving a report's draft and recording its submission."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.measures.models import Alert, AlertStatus
from ketaclinic.treatment.models import (
    AdverseEventReport,
)

from .content import (
    missing,
)
from .forms import ALERT_CODE, MAX_TEXT, OUTCOMES

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
        elif death_date < event_day or death_date > report.clinic.today():
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
    elif submitted_on > report.clinic.today():
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
