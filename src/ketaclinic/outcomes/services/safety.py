"""Safety and operations figures: adverse events, alerts, chair use, dropouts."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.inventory.models import CountLine
from ketaclinic.scheduling.models import Appointment, OpeningHours, Room
from ketaclinic.treatment.models import AdverseEvent, RemsForm, SessionAlert, TreatmentSession

from .filters import (
    Filters,
    cohorts,
    dropout_q,
)
from .summary import _rate

# --------------------------------------------------------------------------- safety


def _in_range(field: str, clinic: Clinic, filters: Filters) -> Q:
    q = Q()
    if filters.date_from:
        q &= Q(**{f"{field}__gte": _day_start(clinic, filters.date_from)})
    if filters.date_to:
        q &= Q(**{f"{field}__lt": _day_start(clinic, filters.date_to + timedelta(days=1))})
    return q


def _day_start(clinic: Clinic, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clinic.tz)


def sessions_in(clinic: Clinic, filters: Filters) -> QuerySet[TreatmentSession]:
    """Sessions in which a dose was given, in the range."""
    return TreatmentSession.objects.filter(
        _in_range("dose_started_at", clinic, filters), clinic=clinic, dose_started_at__isnull=False
    )


def appointments_in(clinic: Clinic, filters: Filters, now: datetime) -> QuerySet[Appointment]:
    """Appointments in the range whose time has come (future ones cannot be missed yet)."""
    return Appointment.objects.filter(
        _in_range("start", clinic, filters), clinic=clinic, start__lt=now
    )


def _opening_minutes(clinic: Clinic, first: date, last: date) -> int:
    """Minutes the clinic was open between two days (its weekly hours; one query)."""
    per_weekday: dict[int, int] = defaultdict(int)
    for hours in OpeningHours.objects.filter(clinic=clinic):
        opens = datetime.combine(date.min, hours.opens)
        closes = datetime.combine(date.min, hours.closes)
        per_weekday[hours.weekday] += int((closes - opens).total_seconds() // 60)
    days = (last - first).days + 1
    if days <= 0:
        return 0
    full_weeks, rest = divmod(days, 7)
    minutes = full_weeks * sum(per_weekday.values())
    for offset in range(rest):
        minutes += per_weekday[(first + timedelta(days=full_weeks * 7 + offset)).weekday()]
    return minutes


def safety(clinic: Clinic, filters: Filters, now: datetime | None = None) -> dict[str, Any]:
    """Adverse events per 100 sessions, BP excursions, overrides, REMS, ledger, operations."""
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=clinic.tz)
    sessions = sessions_in(clinic, filters)
    s = sessions.aggregate(
        n=Count("pk"),
        overrides=Count("pk", filter=Q(discharge_override_by__isnull=False)),
    )
    n_sessions = s["n"]
    ae_rows = list(
        AdverseEvent.objects.filter(session__in=sessions)
        .values("type", "severity")
        .annotate(n=Count("pk"), serious=Count("pk", filter=Q(serious=True)))
        .order_by()
    )
    bp = (
        SessionAlert.objects.filter(session__in=sessions, code="hypertension")
        .values("session_id")
        .distinct()
        .count()
    )
    rems = RemsForm.objects.filter(session__in=sessions).aggregate(
        total=Count("pk"),
        on_time=Count("pk", filter=Q(submitted_on__isnull=False, submitted_on__lte=F("due_on"))),
        late=Count("pk", filter=Q(submitted_on__gt=F("due_on"))),
        overdue=Count("pk", filter=Q(submitted_on__isnull=True, due_on__lt=today)),
        pending=Count("pk", filter=Q(submitted_on__isnull=True, due_on__gte=today)),
    )
    ledger = CountLine.objects.filter(
        _in_range("session__counted_at", clinic, filters), session__clinic=clinic
    ).aggregate(
        lines=Count("pk"),
        discrepancies=Count("pk", filter=~Q(counted=F("ledger_balance"))),
        unresolved=Count(
            "pk", filter=~Q(counted=F("ledger_balance")) & Q(resolved_at__isnull=True)
        ),
    )
    duration = ExpressionWrapper(F("end") - F("start"), output_field=DurationField())
    chairs = Room.objects.filter(clinic=clinic, kind="treatment_chair", active=True)
    appts = appointments_in(clinic, filters, now).aggregate(
        due=Count("pk", filter=~Q(status="cancelled")),
        no_show=Count("pk", filter=Q(status="no_show")),
        integration_booked=Count("pk", filter=Q(kind="integration") & ~Q(status="cancelled")),
        integration_attended=Count("pk", filter=Q(kind="integration", status="completed")),
        chair_time=Sum(
            duration,
            filter=Q(
                room__kind="treatment_chair", status__in=["checked_in", "in_progress", "completed"]
            ),
        ),
        first=Min("start"),
    )
    chair_count = chairs.count()
    first_day = filters.date_from or (
        timezone.localdate(appts["first"], timezone=clinic.tz) if appts["first"] else today
    )
    last_day = min(filters.date_to or today, today)
    open_minutes = _opening_minutes(clinic, first_day, last_day) * chair_count
    used_minutes = int(appts["chair_time"].total_seconds() // 60) if appts["chair_time"] else 0

    by_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in ae_rows:
        by_type[row["type"]][row["severity"]] += row["n"]
    severities = [code for code, _ in AdverseEvent.Severity.choices]
    ae_table: list[dict[str, Any]] = []
    for code, label in AdverseEvent.Type.choices:
        cells = [by_type[code][sev] for sev in severities]
        total = sum(cells)
        ae_table.append(
            {
                "type": code,
                "label": label,
                "by_severity": dict(zip(severities, cells, strict=True)),
                "total": total,
                "per_100": _per_100(total, n_sessions),
            }
        )
    ae_total = sum(r["total"] for r in ae_table)
    return {
        "sessions": n_sessions,
        "adverse_events": {
            "severities": [{"code": c, "label": lab} for c, lab in AdverseEvent.Severity.choices],
            "rows": ae_table,
            "total": ae_total,
            "per_100": _per_100(ae_total, n_sessions),
            "serious": sum(r["serious"] for r in ae_rows),
        },
        "bp_excursions": {"sessions": bp, "per_100": _per_100(bp, n_sessions)},
        "discharge_overrides": {
            "sessions": s["overrides"],
            "per_100": _per_100(s["overrides"], n_sessions),
        },
        "rems_forms": {
            **rems,
            "on_time_rate": _rate(rems["on_time"], rems["total"] - rems["pending"]),
        },
        "ledger": ledger,
        "no_shows": {
            "appointments": appts["due"],
            "no_shows": appts["no_show"],
            "rate": _rate(appts["no_show"], appts["due"]),
        },
        "chair_utilisation": {
            "chairs": chair_count,
            "booked_minutes": used_minutes,
            "open_minutes": open_minutes,
            "rate": _rate(used_minutes, open_minutes),
        },
        "integration": {
            "booked": appts["integration_booked"],
            "attended": appts["integration_attended"],
            "rate": _rate(appts["integration_attended"], appts["integration_booked"]),
        },
    }


def _per_100(count: int, sessions: int) -> float | None:
    return count * 100 / sessions if sessions else None


def dropout_reasons(
    clinic: Clinic, filters: Filters, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Why first courses stopped short, most common first (the reason as recorded)."""
    now = now or timezone.now()
    rows = (
        cohorts(clinic, filters)
        .filter(dropout_q(now))
        .values("course_status", "course_stop_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "course_stop_reason")
    )
    reasons: dict[str, int] = defaultdict(int)
    for row in rows:
        if row["course_status"] == "stopped":
            text = row["course_stop_reason"] or "Stopped (no reason recorded)"
        elif row["course_status"] == "completed":
            text = "Course closed before the planned sessions were given"
        else:
            text = "No session for 30 days"
        reasons[text] += row["n"]
    return [
        {"reason": text, "patients": n}
        for text, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    ]
