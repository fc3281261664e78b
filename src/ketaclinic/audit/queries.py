"""Reading the audit log (admins), shared by the page and the API."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent


def events_for(
    actor: Actor,
    *,
    patient_id: int | None = None,
    username: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The clinic's events, newest first, filtered; dates are days in the clinic's time zone."""
    actor.check("audit.view")
    events = AuditEvent.objects.filter(clinic=actor.clinic)
    if patient_id is not None:
        events = events.filter(patient_id=patient_id)
    if username:
        events = events.filter(username=username)
    tz = actor.clinic.tz
    if date_from:
        events = events.filter(at__gte=datetime.combine(date_from, time.min, tz))
    if date_to:
        events = events.filter(at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tz))
    return events.order_by("-at", "-id")
