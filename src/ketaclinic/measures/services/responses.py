"""Recording a questionnaire response: scoring it, storing it, raising its alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.clinical.instruments import AnswerError, Instrument, score
from ketaclinic.measures.models import Alert, AlertLevel, Response, Source
from ketaclinic.measures.registry import get_instrument
from ketaclinic.patients.changes import patient_changed
from ketaclinic.patients.models import Patient

from .alerts import notify_physicians

# Alerts at these levels must be closed by a person; lower levels are shown with the score only.
STORED_ALERT_LEVELS = frozenset(AlertLevel.values)


# A response may be dated a little ahead of the server clock (a tablet's clock drifts).
FUTURE_SKEW = timedelta(minutes=5)


# --------------------------------------------------------------------------- responses


def _answer_error(exc: AnswerError) -> ValidationError:
    field = "answers" if exc.item == "answers" else f"answers.{exc.item}"
    return ValidationError({field: exc.message})


def _taken_at(clinic: Clinic, taken_at: datetime | None, now: datetime) -> datetime:
    if taken_at is None:
        return now
    if timezone.is_naive(taken_at):
        # A time without an offset is read in the clinic's own time zone.
        taken_at = timezone.make_aware(taken_at, clinic.tz)
    if taken_at > now + FUTURE_SKEW:
        raise ValidationError(
            {"taken_at": "The time a questionnaire was taken cannot be in the future."}
        )
    return taken_at


def _store(
    *,
    clinic: Clinic,
    patient: Patient,
    instrument: Instrument,
    answers: Sequence[Any],
    taken_at: datetime,
    source: str,
    entered_by_id: int | None,
) -> tuple[Response, list[Alert]]:
    """Score and save one response and open its alerts (caller holds the transaction)."""
    try:
        result = score(instrument, answers)
    except AnswerError as exc:
        raise _answer_error(exc) from None
    response = Response.objects.create(
        clinic=clinic,
        patient=patient,
        instrument=instrument.code,
        version=instrument.version,
        answers=list(answers),
        total=result.total,
        severity=result.severity or "",
        severity_label=result.severity_label or "",
        subscores=dict(result.subscores),
        prorated=result.prorated,
        missing_items=list(result.missing_items),
        provisional_diagnosis=result.provisional_diagnosis,
        above_cutoff=result.above_cutoff,
        taken_at=taken_at,
        entered_by_id=entered_by_id,
        source=source,
    )
    patient_changed(patient.pk)
    response.score = result
    opened = [
        Alert.objects.create(
            clinic=clinic,
            patient=patient,
            response=response,
            code=a.code,
            level=a.level,
            message=a.message,
            opened_at=timezone.now(),
        )
        for a in result.alerts
        if a.level in STORED_ALERT_LEVELS
    ]
    if opened:
        alert_ids = [a.pk for a in opened]
        transaction.on_commit(lambda: notify_physicians(clinic_id=clinic.pk, alert_ids=alert_ids))
    return response, opened


def record_response(
    *,
    actor: Actor,
    patient: Patient,
    instrument: str,
    answers: Sequence[Any],
    taken_at: datetime | None = None,
    source: str = Source.CLINICIAN,
) -> tuple[Response, list[Alert]]:
    """Score and store a response entered by staff; returns it and the alerts it opened.

    A wrong number of answers, an answer outside an item's options or a disallowed skip
    raises ValidationError naming the item ("answers.4"), and nothing is stored.
    """
    actor.check("measures.record")
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This patient belongs to another clinic.")
    if source not in Source.values:
        raise ValidationError({"source": f"Unknown source {source!r}."})
    definition = get_instrument(instrument)
    now = timezone.now()
    when = _taken_at(actor.clinic, taken_at, now)
    with transaction.atomic():
        response, opened = _store(
            clinic=actor.clinic,
            patient=patient,
            instrument=definition,
            answers=answers,
            taken_at=when,
            source=source,
            entered_by_id=actor.user.pk,
        )
        record(
            actor,
            "create",
            patient_id=patient.pk,
            obj=response,
            detail={
                "instrument": definition.key,
                "source": source,
                "alerts": [a.pk for a in opened],
            },
        )
    return response, opened


def responses_for(
    *, actor: Actor, patient: Patient, instrument: str | None = None
) -> QuerySet[Response]:
    """The patient's responses, newest first (the caller audits what it shows)."""
    actor.check("clinical.view")
    found = Response.objects.for_clinic(actor.clinic).filter(patient=patient)
    if instrument:
        found = found.filter(instrument=instrument)
    return found.order_by("-taken_at", "-pk")


def view_measures(*, actor: Actor, patient: Patient, what: str, ids: Sequence[int] = ()) -> None:
    """Record that the actor read this patient's measures (which view, which responses)."""
    detail: dict[str, Any] = {"view": what}
    if ids:
        detail["responses"] = list(ids)
    record(actor, "view", patient_id=patient.pk, object_type="measures.response", detail=detail)
