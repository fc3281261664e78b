"""Discharge: what is still unmet, the assessment, and the discharge itself."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.clinical.monitoring import UnmetCriterion, discharge_check, earliest_discharge_at
from ketaclinic.clinical.protocols import Protocol
from ketaclinic.treatment.models import (
    Observation,
    ObservationKind,
    State,
    TreatmentSession,
    VitalReading,
)
from ketaclinic.treatment.rems import ensure_form

from .session import _finish_appointment
from .state import (
    SessionConflict,
    _aware,
    _claim,
    _event,
    _require_state,
    _save,
    _transition,
    session_protocol,
)

R = TypeVar("R", VitalReading, Observation)


def _newest(rows: Iterable[R]) -> R | None:
    return max(rows, key=lambda row: (row.taken_at, row.pk), default=None)


def discharge_unmet(
    session: TreatmentSession,
    protocol: Protocol,
    now: datetime,
    *,
    loaded: tuple[list[VitalReading], list[Observation]] | None = None,
) -> list[UnmetCriterion]:
    """The discharge criteria not met now ([] = the patient may go).

    The latest vitals, MOAA/S and CADSS-6 go in with the time each was taken: only
    those taken after the dose ended and recently count (clinical.monitoring).
    `loaded` are the session's readings and observations when the caller has just read
    them all (the session page); otherwise the newest of each are read here.
    """
    if session.dose_started_at is None:
        return [UnmetCriterion("observation_time", "No dose has been given.")]
    if loaded is None:
        newest = ("-taken_at", "-pk")
        reading = session.readings.order_by(*newest).first()
        moaas = session.observations.filter(kind=ObservationKind.MOAAS).order_by(*newest).first()
        cadss = session.observations.filter(kind=ObservationKind.CADSS6).order_by(*newest).first()
    else:
        readings, observations = loaded
        reading = _newest(readings)
        moaas = _newest(o for o in observations if o.kind == ObservationKind.MOAAS)
        cadss = _newest(o for o in observations if o.kind == ObservationKind.CADSS6)
    return discharge_check(
        protocol,
        first_dose_at=session.dose_started_at,
        infusion_ended_at=session.dose_ended_at if session.route == "iv" else None,
        dose_ended_at=session.dose_ended_at,
        # In the clinic's zone: the messages name clock times the staff read at the chair.
        now=session.clinic.local(max(now, session.dose_started_at)),
        last_vitals=reading.as_monitoring() if reading else None,
        last_vitals_at=reading.taken_at if reading else None,
        last_moaas=moaas.value if moaas else None,
        last_moaas_at=moaas.taken_at if moaas else None,
        last_cadss6_at=cadss.taken_at if cadss else None,
        dissociation_resolved=session.dissociation_resolved,
        respiratory_depression=session.respiratory_depression,
        walks_steadily=session.walks_steadily,
        escort_present=session.escort_present,
    )


# --- discharge ------------------------------------------------------------------------------------


def assess_discharge(
    *,
    actor: Actor,
    session: TreatmentSession,
    dissociation_resolved: bool | None,
    walks_steadily: bool | None,
    escort_present: bool | None,
    respiratory_depression: bool | None = None,
    could_have_left_at: datetime | None = None,
    expected_version: int | None,
) -> list[UnmetCriterion]:
    """Record the nurse's discharge assessment; returns the criteria still unmet.

    When nothing is unmet the session becomes ready for discharge.
    """
    actor.check("session.chart")
    now = timezone.now()
    if could_have_left_at is not None:
        could_have_left_at = _aware(
            could_have_left_at, "could_have_left_at", now=now + timedelta(hours=6)
        )
    protocol = session_protocol(session)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.MONITORING, State.READY, doing="assess for discharge")
        if (
            could_have_left_at is not None
            and session.dose_started_at
            and could_have_left_at < session.dose_started_at
        ):
            raise ValidationError({"could_have_left_at": "This is before the first dose."})
        session.dissociation_resolved = dissociation_resolved
        session.walks_steadily = walks_steadily
        session.escort_present = escort_present
        session.respiratory_depression = respiratory_depression
        if could_have_left_at is not None:
            session.could_have_left_at = could_have_left_at
        _save(
            session,
            "dissociation_resolved",
            "walks_steadily",
            "escort_present",
            "respiratory_depression",
            "could_have_left_at",
        )
        unmet = discharge_unmet(session, protocol, now)
        if not unmet and session.state == State.MONITORING:
            _transition(actor, session, State.READY, at=now, text="Discharge criteria met")
        elif unmet and session.state == State.READY:
            _transition(
                actor, session, State.MONITORING, at=now, text="Discharge criteria no longer met"
            )
        record(
            actor,
            "discharge_assessment",
            patient_id=session.patient_id,
            obj=session,
            detail={"unmet": [u.code for u in unmet]},
        )
    return unmet


def discharge(
    *,
    actor: Actor,
    session: TreatmentSession,
    override_reason: str = "",
    could_have_left_at: datetime | None = None,
    expected_version: int | None,
) -> TreatmentSession:
    """Discharge the patient, or SessionConflict with `unmet` unless a physician overrides.

    The clinician's "could have left at" estimate is never filled in for them: for
    esketamine the REMS form needs it (minutes until ready without the 2-hour rule),
    so discharge asks for it when the assessment did not record it.
    """
    actor.check("session.chart")
    override_reason = (override_reason or "").strip()
    if override_reason:
        actor.check("medical.sign")
    protocol = session_protocol(session)
    now = timezone.now()
    if could_have_left_at is not None:
        could_have_left_at = _aware(could_have_left_at, "could_have_left_at", now=now)
    with transaction.atomic():
        _claim(session, expected_version)
        _require_state(session, State.MONITORING, State.READY, doing="discharge")
        unmet = discharge_unmet(session, protocol, now)
        if unmet and not override_reason:
            raise SessionConflict(
                "The patient does not yet meet the discharge criteria.",
                unmet=[{"code": u.code, "message": u.message} for u in unmet],
            )
        if could_have_left_at is not None:
            if session.dose_started_at and could_have_left_at < session.dose_started_at:
                raise ValidationError({"could_have_left_at": "This is before the first dose."})
            session.could_have_left_at = could_have_left_at
        if session.is_esketamine and session.could_have_left_at is None:
            raise ValidationError(
                {
                    "could_have_left_at": "Estimate when the patient could have left without "
                    "the 2-hour rule (the REMS form asks for it)."
                }
            )
        session.discharged_at = now
        session.discharge_unmet = [{"code": u.code, "message": u.message} for u in unmet]
        if unmet:
            session.discharge_override_by = actor.user
            session.discharge_override_reason = override_reason[:500]
            _event(
                actor,
                session,
                "override",
                f"Discharge override ({', '.join(u.code for u in unmet)}). Reason: {override_reason}",
                at=now,
            )
        _save(
            session,
            "discharged_at",
            "discharge_unmet",
            "discharge_override_by",
            "discharge_override_reason",
            "could_have_left_at",
        )
        _transition(actor, session, State.DISCHARGED, at=now, text="Discharged")
        _finish_appointment(actor, session)
        if session.is_esketamine:
            ensure_form(session)
    return session


def earliest_discharge(session: TreatmentSession, protocol: Protocol) -> datetime | None:
    if session.dose_started_at is None:
        return None
    return earliest_discharge_at(
        protocol,
        dose_started_at=session.dose_started_at,
        infusion_ended_at=session.dose_ended_at if session.route == "iv" else None,
    )
