"""The session's lock and state machine: compare-and-set on `version`, transitions, events.

Every write first claims the session (`_claim`): when the caller's version is stale
nothing is written and StaleVersion is raised (answered 409)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from ketaclinic.accounts.access import Actor, audit_read
from ketaclinic.audit.services import record
from ketaclinic.clinical.protocols import Protocol
from ketaclinic.patients.services import StaleVersion
from ketaclinic.scheduling import services as scheduling
from ketaclinic.treatment.models import SessionEvent, TreatmentSession

# A time entered for a reading may lie this far in the future (clock drift between devices).
CLOCK_SKEW = timedelta(minutes=2)


class SessionConflict(Exception):
    """The write is refused in the session's current state; `extra` goes into the 409 body."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


# --- reading -------------------------------------------------------------------------


def session_protocol(session: TreatmentSession) -> Protocol:
    """The protocol the session runs under: its course's, with the patient's longer observation."""
    from ketaclinic.treatment.longterm import apply_observation

    return apply_observation(session, scheduling.course_protocol(session.course))


def _now(value: datetime | None = None) -> datetime:
    return value or timezone.now()


def _aware(value: datetime | None, field: str, *, now: datetime) -> datetime:
    if value is None:
        return now
    if timezone.is_naive(value):
        raise ValidationError({field: "Give the time with its UTC offset."})
    if value > now + CLOCK_SKEW:
        raise ValidationError({field: "This time is in the future."})
    return value


# --- locking and the timeline -----------------------------------------------------------


def _claim(
    session: TreatmentSession, expected_version: int | None, *, signed_ok: bool = False
) -> None:
    """Compare-and-set the version (call inside the write's transaction).

    Raises StaleVersion when someone saved since `expected_version` was loaded, and
    SessionConflict when the session is signed (read-only) unless `signed_ok`.
    """
    current = (
        TreatmentSession.objects.select_for_update()
        .filter(pk=session.pk)
        .values("version", "nurse_signed_at")
        .first()
    )
    if current is None:
        raise StaleVersion
    if expected_version is not None and expected_version != current["version"]:
        raise StaleVersion
    if current["nurse_signed_at"] is not None and not signed_ok:
        raise SessionConflict(
            "This session is signed and read-only; record a correction as an amendment."
        )
    updated = TreatmentSession.objects.filter(pk=session.pk, version=current["version"]).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    if updated == 0:
        raise StaleVersion
    session.version = current["version"] + 1
    # Decide on what is stored now, not on what this request loaded.
    session.refresh_from_db(fields=_STATE_FIELDS)


_STATE_FIELDS = [
    "state",
    "dose_started_at",
    "dose_ended_at",
    "nurse_signed_by",
    "nurse_signed_at",
    "physician_signed_at",
    "could_have_left_at",
    "dissociation_resolved",
    "walks_steadily",
    "escort_present",
    "respiratory_depression",
]


def _event(
    actor: Actor,
    session: TreatmentSession,
    kind: str,
    text: str = "",
    *,
    at: datetime | None = None,
    to_state: str = "",
    from_state: str = "",
) -> SessionEvent:
    return SessionEvent.objects.create(
        session=session,
        at=at or timezone.now(),
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        text=text[:500],
        by=actor.user,
    )


def _transition(
    actor: Actor, session: TreatmentSession, to: str, *, at: datetime, text: str = ""
) -> None:
    before = session.state
    session.state = to
    TreatmentSession.objects.filter(pk=session.pk).update(state=to)
    _event(actor, session, "transition", text, at=at, from_state=before, to_state=to)
    record(
        actor,
        "transition",
        patient_id=session.patient_id,
        obj=session,
        detail={"from": before, "to": to},
    )


def _require_state(session: TreatmentSession, *states: str, doing: str) -> None:
    if session.state not in states:
        raise SessionConflict(
            f"Cannot {doing} while the session is {session.get_state_display().lower()}.",
            state=session.state,
        )


def _save(session: TreatmentSession, *fields: str) -> None:
    TreatmentSession.objects.filter(pk=session.pk).update(
        **{name: getattr(session, name) for name in fields}
    )


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: "Enter a number."}) from None
    if not number.is_finite() or number < 0:
        raise ValidationError({field: "Enter a number of zero or more."})
    return number


def view_session(*, actor: Actor, session: TreatmentSession, what: str = "session") -> None:
    """Record that the actor read this session (already fetched; a fetch to show asks
    `get_session_for(..., read=what)` instead)."""
    audit_read(actor, session, patient_id=session.patient_id, view=what)
