"""Signing a session and amending a signed one."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime, parse_time

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.patients.changes import patient_changed
from ketaclinic.treatment import hooks
from ketaclinic.treatment.models import Administration, Amendment, RemsForm, State, TreatmentSession
from ketaclinic.treatment.rems import ensure_form, form_data, missing_fields, refresh_unsubmitted

from .monitoring import _vital_values
from .state import SessionConflict, _claim, _event, _require_state, _save

# --- signing and amendments ------------------------------------------------------------------------


def sign_session(
    *, actor: Actor, session: TreatmentSession, expected_version: int | None
) -> TreatmentSession:
    """The nurse signs (then the session is read-only); a physician then co-signs.

    The first signature needs a discharged or stopped session and, for esketamine,
    a complete REMS form (SessionConflict with `missing`).
    """
    actor.check("session.chart")
    now = timezone.now()
    with transaction.atomic():
        _claim(session, expected_version, signed_ok=True)
        if session.nurse_signed_at is None:
            _require_state(session, State.DISCHARGED, State.STOPPED, doing="sign")
            if session.is_esketamine and session.dose_started_at is not None:
                form = ensure_form(session)
                data = form_data(session)
                missing = missing_fields(data)
                if missing:
                    raise SessionConflict(
                        "The REMS Patient Monitoring Form is incomplete.", missing=missing
                    )
                RemsForm.objects.filter(pk=form.pk).update(data=data)
            session.nurse_signed_by = actor.user
            session.nurse_signed_at = now
            _save(session, "nurse_signed_by", "nurse_signed_at")
            _event(actor, session, "sign", "Signed", at=now)
            record(actor, "sign", patient_id=session.patient_id, obj=session)
            patient_changed(session.patient_id)
            hooks.session_signed(actor, session)
        elif session.physician_signed_at is None:
            actor.check("medical.sign")
            if session.nurse_signed_by_id == actor.user.pk:
                raise SessionConflict(
                    "You signed this session; the co-signature must come from another physician."
                )
            session.physician_signed_by = actor.user
            session.physician_signed_at = now
            _save(session, "physician_signed_by", "physician_signed_at")
            _event(actor, session, "cosign", "Co-signed by the physician", at=now)
            record(actor, "cosign", patient_id=session.patient_id, obj=session)
        else:
            raise SessionConflict("The session is already signed and co-signed.")
    return session


AMENDABLE_READING_FIELDS = (
    "systolic",
    "diastolic",
    "heart_rate",
    "spo2",
    "respiratory_rate",
    "temperature_c",
)


AMENDABLE_SESSION_FIELDS = ("note", "could_have_left_at", "lot_number")


def add_amendment(
    *,
    actor: Actor,
    session: TreatmentSession,
    target: str,
    field: str,
    new_value: str,
    reason: str,
    expected_version: int | None,
) -> Amendment:
    """Correct a signed session: the original value is kept, the amendment says what it should be."""
    actor.check("session.chart")
    reason = (reason or "").strip()
    new_value = (new_value or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why the record is corrected."
    if not new_value:
        errors["new_value"] = "Enter the corrected value."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _claim(session, expected_version, signed_ok=True)
        if not session.is_signed:
            raise SessionConflict("The session is not signed yet: change it directly.")
        old = ""
        if target.startswith("reading:"):
            reading = (
                session.readings.filter(pk=target.partition(":")[2] or 0).first()
                if target.partition(":")[2].isdigit()
                else None
            )
            if reading is None:
                raise ValidationError({"target": "No such reading in this session."})
            if field not in AMENDABLE_READING_FIELDS:
                raise ValidationError({"field": "Choose a vital sign to correct."})
            _vital_values({field: new_value})
            old = "" if getattr(reading, field) is None else str(getattr(reading, field))
        elif target == "session":
            if field not in AMENDABLE_SESSION_FIELDS:
                raise ValidationError({"field": "This field cannot be amended."})
            if field == "lot_number":
                administration = Administration.objects.filter(session=session).first()
                old = administration.lot_number if administration else ""
            elif field == "could_have_left_at":
                old = session.could_have_left_at.isoformat() if session.could_have_left_at else ""
                new_value = _amended_time(session, new_value).isoformat()
        else:
            raise ValidationError({"target": "Give 'session' or 'reading:<id>'."})
        amendment = Amendment.objects.create(
            session=session,
            target=target,
            field=field,
            old_value=old,
            new_value=new_value[:500],
            reason=reason[:500],
            by=actor.user,
            at=timezone.now(),
        )
        record(
            actor,
            "amend",
            patient_id=session.patient_id,
            obj=session,
            detail={"target": target, "field": field},
        )
        if session.is_esketamine:
            refresh_unsubmitted(session)
    return amendment


def _amended_time(session: TreatmentSession, raw: str) -> datetime:
    """A corrected "could have left at": an ISO time with offset, or HH:MM on the session's day.

    It must lie between the first dose and the end of the session (422 naming new_value).
    """
    tz = session.clinic.tz
    when = None
    try:
        clock = parse_time(raw) if len(raw) <= 5 else None
    except ValueError:
        clock = None
    if clock is not None:
        day = timezone.localdate(session.dose_started_at or session.started_at, timezone=tz)
        when = datetime.combine(day, clock, tzinfo=tz)
    else:
        try:
            when = parse_datetime(raw)
        except ValueError:
            when = None
        if when is not None and timezone.is_naive(when):
            when = when.replace(tzinfo=tz)
    if when is None:
        raise ValidationError({"new_value": "Enter the time as HH:MM (or an ISO date and time)."})
    end = session.discharged_at or timezone.now()
    if session.dose_started_at and when < session.dose_started_at:
        raise ValidationError({"new_value": "This is before the first dose."})
    if when > end:
        raise ValidationError({"new_value": "This is after the patient left."})
    return when
