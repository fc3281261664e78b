"""A staff member's private calendar feed (iCalendar)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from django.db import transaction

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.services import record, record_system
from ketaclinic.scheduling.models import Appointment, CalendarFeed


def _feed_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_calendar_feed(*, actor: Actor) -> str:
    """Create (or replace) the actor's calendar feed; returns the raw token, shown once."""
    actor.check("schedule.view")
    raw = secrets.token_urlsafe(32)
    CalendarFeed.objects.update_or_create(
        membership=actor.membership, defaults={"digest": _feed_digest(raw)}
    )
    record(actor, "calendar_feed_issued", obj=actor.membership)
    return raw


def feed_membership(raw: str) -> Membership | None:
    feed = (
        CalendarFeed.objects.select_related("membership__clinic", "membership__user")
        .filter(
            digest=_feed_digest(raw), membership__is_active=True, membership__user__is_active=True
        )
        .first()
    )
    return feed.membership if feed else None


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


@transaction.atomic
def calendar_ics(membership: Membership, now: datetime, *, ip: str | None = None) -> str:
    """An iCalendar feed of the member's appointments (no patient names leave the system).

    Each fetch is audited (the appointment ids it showed; no patient data).
    """
    appointments = list(
        Appointment.objects.for_clinic(membership.clinic)
        .holding()
        .filter(
            staff=membership, end__gt=now - timedelta(days=7), start__lt=now + timedelta(days=90)
        )
        .select_related("room")
        .order_by("start")
    )
    record_system(
        "calendar_feed_read",
        user=membership.user,
        clinic=membership.clinic,
        ip=ip,
        detail={"membership": membership.pk, "appointments": [a.pk for a in appointments]},
    )
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//ketaclinic//scheduling//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_ics_escape(membership.clinic.name)}",
    ]
    for a in appointments:
        lines += [
            "BEGIN:VEVENT",
            f"UID:appointment-{a.pk}@ketaclinic",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{a.start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{a.end.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{_ics_escape(a.get_kind_display() + ' · ' + a.room.name)}",
            f"DESCRIPTION:{_ics_escape('Appointment ' + str(a.pk) + '. Open ketaclinic for details.')}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
