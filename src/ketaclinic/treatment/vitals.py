"""Recording vital signs during and after the dose: the clinic's most frequent write, kept short.

A monitor or a nurse posts a reading every few minutes for every chair. Once the dose
has started, a reading changes nothing on the checklist, so the write is: one UPDATE that
bumps the session's version and returns its state (it also takes the session's row, so
two readings of one session are phased and compared in order), one query for the alert
codes of the reading before (a persisting high reading escalates), the reading's INSERT,
one INSERT for its alerts when there are any, and the audit event (journaled,
audit/journal.py). Before the dose a reading decides the checklist's pre-dose vitals
item, so it takes the full path in services.record_vitals, as does any case this path
cannot decide (a stale version, a signed session), which answers as precisely as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ketaclinic.accounts.access import Actor
from ketaclinic.audit import journal
from ketaclinic.audit.services import record
from ketaclinic.clinical.monitoring import vital_alerts
from ketaclinic.db_writer import one_writer
from ketaclinic.treatment import services
from ketaclinic.treatment.models import (
    FINAL_STATES,
    SessionAlert,
    State,
    TreatmentSession,
    VitalReading,
)

_BUMP = (
    "UPDATE treatment_treatmentsession SET version = version + 1, updated_at = %s"
    " WHERE id = %s AND nurse_signed_at IS NULL AND (%s OR version = %s)"
    " RETURNING version, state, dose_started_at"
)


class _FullPath(Exception):
    """This reading needs services.record_vitals (before the dose, or a refusal to word)."""


def record_vitals(
    *,
    actor: Actor,
    session: TreatmentSession,
    values: Mapping[str, Any],
    taken_at: datetime | None = None,
    expected_version: int | None = None,
) -> tuple[VitalReading, list[SessionAlert]]:
    """Store a reading and the alerts it raises; an impossible value stores nothing (422)."""
    if session.state == State.PRE_DOSE:
        return services.record_vitals(
            actor=actor,
            session=session,
            values=values,
            taken_at=taken_at,
            expected_version=expected_version,
        )
    try:
        return _after_dose(actor, session, values, taken_at, expected_version)
    except _FullPath:
        return services.record_vitals(
            actor=actor,
            session=session,
            values=values,
            taken_at=taken_at,
            expected_version=expected_version,
        )


def _bump(session: TreatmentSession, expected_version: int | None, now: datetime) -> None:
    """Take the session's row and a new version; _FullPath when it is stale or signed."""
    table = TreatmentSession._meta.db_table
    sql = _BUMP.replace("treatment_treatmentsession", connection.ops.quote_name(table))
    unversioned = expected_version is None
    with connection.cursor() as cursor:
        stamp = connection.ops.adapt_datetimefield_value(now)
        cursor.execute(sql, [stamp, session.pk, unversioned, expected_version or 0])
        row = cursor.fetchone()
    if row is None:
        raise _FullPath
    session.version, session.state, started = row
    if isinstance(started, str):  # SQLite may hand RETURNING's datetimes back as text
        started = parse_datetime(started)
    if started is not None and timezone.is_naive(started):  # SQLite stores UTC, naive
        started = started.replace(tzinfo=UTC)
    session.dose_started_at = started
    if session.state == State.PRE_DOSE:
        raise _FullPath  # cannot happen (no way back to pre-dose), but decide nothing here


def _previous_codes(session: TreatmentSession, taken: datetime) -> set[str]:
    """The codes the reading just before `taken` raised (one query)."""
    previous = (
        VitalReading.objects.filter(session=session, taken_at__lte=taken)
        .order_by("-taken_at", "-pk")
        .values("pk")[:1]
    )
    return set(
        SessionAlert.objects.filter(reading=Subquery(previous)).values_list("code", flat=True)
    )


def _after_dose(
    actor: Actor,
    session: TreatmentSession,
    values: Mapping[str, Any],
    taken_at: datetime | None,
    expected_version: int | None,
) -> tuple[VitalReading, list[SessionAlert]]:
    actor.check("session.chart")
    reading_values = services._vital_values(values)
    now = timezone.now()
    taken = services._aware(taken_at, "taken_at", now=now)
    if taken < session.started_at - timedelta(hours=1):
        raise ValidationError({"taken_at": "This time is before the session began."})
    protocol = services.session_protocol(session)
    # The audit event's fsync is waited for after the writer lock is let go (journal.py).
    with journal.on_disk_at_exit(), one_writer(), transaction.atomic():
        _bump(session, expected_version, now)
        if session.state in FINAL_STATES:
            raise services.SessionConflict("The session has ended; no readings can be added.")
        phase = services._phase(session, taken)
        alerts = vital_alerts(
            protocol,
            reading_values,
            phase=phase,
            persisting=_previous_codes(session, taken),
        )
        reading = services._new_reading(actor, session, reading_values, taken, phase, now)
        stored = SessionAlert.objects.bulk_create(
            SessionAlert(
                session=session,
                reading=reading,
                code=a.code,
                level=a.level,
                message=a.message[:500],
                rule_id=a.rule_id,
                raised_at=taken,
            )
            for a in alerts
        )
        record(
            actor,
            "vitals",
            patient_id=session.patient_id,
            obj=reading,
            detail={"session": session.pk, "alerts": [a.code for a in stored]},
        )
        services._back_to_monitoring(actor, session, stored, at=now)
        escalated = [row for row, alert in zip(stored, alerts, strict=True) if alert.escalated]
        for row in escalated:
            services._event(
                actor, session, "alert", f"Alert raised on recheck: {row.message}"[:500], at=taken
            )
        if escalated:
            clinic_id, session_id = session.clinic_id, session.pk
            alert_ids = [row.pk for row in escalated]
            transaction.on_commit(
                lambda: services.notify_escalated_alerts(
                    clinic_id=clinic_id, session_id=session_id, alert_ids=alert_ids
                )
            )
    return reading, stored
