"""The clinic's outcome, safety and operations figures, and the patients behind each number.

Every figure is an aggregate over the per-patient rows (`PatientCohort`,
`InstrumentOutcome`) or over the clinic's sessions and appointments, grouped in SQL:
the number of queries is fixed, and the rows they return are bounded by the number of
groups and distinct values (score changes, days), not by the number of patients.
The statistics themselves are `clinical.statistics`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.services import record
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.statistics import kaplan_meier, median_of_counts
from ketaclinic.clinical.statistics import wilson_interval as wilson
from ketaclinic.inventory.models import CountLine
from ketaclinic.measures.registry import instruments
from ketaclinic.outcomes.models import InstrumentOutcome, PatientCohort
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, OpeningHours, Room
from ketaclinic.treatment.models import AdverseEvent, RemsForm, SessionAlert, TreatmentSession

# The instruments the dashboard reports, in the order it shows them.
INSTRUMENTS = ("phq9", "qids_sr16", "madrs", "gad7", "pcl5", "pain_nrs")
SHORT_NAMES = {
    "phq9": "PHQ-9",
    "qids_sr16": "QIDS-SR16",
    "madrs": "MADRS",
    "gad7": "GAD-7",
    "pcl5": "PCL-5",
    "pain_nrs": "Pain NRS",
}
GROUPINGS = {
    "protocol": "Protocol family",
    "condition": "Condition",
    "physician": "Treating physician",
    "course_number": "Course number",
}
NO_COURSE = "none"
NO_COURSE_LABEL = "No treatment course"
COURSE_NUMBER_LABELS = {
    "first": "First course",
    "reinduction": "Re-induction (two or more courses)",
}
# A course counts as dropped when it ended, or had no dose for this long, before its
# planned induction sessions were all given (issue 17; clinic policy).
DROPOUT_GAP = timedelta(days=30)
OUTCOME_MEASURES = (
    "patients",
    "treated",
    "with_baseline",
    "with_followup",
    "responders",
    "remitters",
    "dropouts",
)


@dataclass(frozen=True)
class Filters:
    """What the dashboard was asked for (validated)."""

    instrument: str = "phq9"
    group_by: str = "protocol"
    date_from: date | None = None
    date_to: date | None = None
    # Published figures count only patients with a course (outcomes of treatment).
    with_course_only: bool = False

    def as_query(self) -> dict[str, str]:
        query = {"instrument": self.instrument, "group_by": self.group_by}
        if self.date_from:
            query["from"] = self.date_from.isoformat()
        if self.date_to:
            query["to"] = self.date_to.isoformat()
        return query


# Dates outside these years are typing errors, not clinic history.
YEARS = (1900, 2200)


def _parse_day(raw: str | date | None, field: str) -> date | None:
    if raw is None or raw == "":
        return None
    day = raw
    if not isinstance(day, date):
        try:
            day = date.fromisoformat(str(raw).strip())
        except ValueError:
            raise ValidationError({field: "Enter a date as YYYY-MM-DD."}) from None
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise ValidationError({field: f"Enter a date between {YEARS[0]} and {YEARS[1]}."})
    return day


def parse_filters(
    *,
    instrument: str | None = None,
    group_by: str | None = None,
    date_from: str | date | None = None,
    date_to: str | date | None = None,
) -> Filters:
    """Validate the dashboard's choices, or raise ValidationError naming the field."""
    instrument = instrument or "phq9"
    group_by = group_by or "protocol"
    if instrument not in INSTRUMENTS:
        raise ValidationError({"instrument": f"Choose one of {', '.join(INSTRUMENTS)}."})
    if group_by not in GROUPINGS:
        raise ValidationError({"group_by": f"Choose one of {', '.join(GROUPINGS)}."})
    start = _parse_day(date_from, "from")
    end = _parse_day(date_to, "to")
    if start and end and end < start:
        raise ValidationError({"to": "The end of the range is before its start."})
    return Filters(instrument=instrument, group_by=group_by, date_from=start, date_to=end)


# --------------------------------------------------------------------------- groups


def _key(group_by: str, prefix: str = "") -> Case:
    """The SQL expression of a cohort's group key (NO_COURSE for patients without a course)."""
    attribute: Any
    if group_by == "protocol":
        attribute = F(prefix + "family")
    elif group_by == "condition":
        attribute = F(prefix + "condition")
    elif group_by == "physician":
        attribute = Coalesce(Cast(prefix + "physician_id", CharField()), Value(""))
    else:
        attribute = Case(
            When(**{prefix + "courses": 1}, then=Value("first")),
            default=Value("reinduction"),
            output_field=CharField(),
        )
    return Case(
        When(**{prefix + "courses": 0}, then=Value(NO_COURSE)),
        default=attribute,
        output_field=CharField(),
    )


def dropout_q(now: datetime, prefix: str = "") -> Q:
    """Cohorts whose first course stopped short of its planned induction sessions."""
    return (
        Q(**{prefix + "treated": True})
        & Q(**{prefix + "sessions_given__lt": F(prefix + "planned_sessions")})
        & (
            Q(**{prefix + "course_status__in": ["completed", "stopped"]})
            | Q(**{prefix + "last_session_at__lt": now - DROPOUT_GAP})
        )
    )


def cohorts(clinic: Clinic, filters: Filters) -> QuerySet[PatientCohort]:
    found = PatientCohort.objects.filter(clinic=clinic)
    if filters.with_course_only:
        found = found.filter(courses__gt=0)
    if filters.date_from:
        found = found.filter(cohort_on__gte=filters.date_from)
    if filters.date_to:
        found = found.filter(cohort_on__lte=filters.date_to)
    return found.annotate(key=_key(filters.group_by))


def outcomes(clinic: Clinic, filters: Filters) -> QuerySet[InstrumentOutcome]:
    found = InstrumentOutcome.objects.filter(clinic=clinic, instrument=filters.instrument)
    if filters.with_course_only:
        found = found.filter(cohort__courses__gt=0)
    if filters.date_from:
        found = found.filter(cohort__cohort_on__gte=filters.date_from)
    if filters.date_to:
        found = found.filter(cohort__cohort_on__lte=filters.date_to)
    return found.annotate(key=_key(filters.group_by, "cohort__"))


# Short names for the shipped protocol families (a clinic's own family shows its title).
FAMILY_NAMES = {
    "ketamine-iv-mood": "IV ketamine, depression",
    "ketamine-im-mood": "IM ketamine, depression",
    "ketamine-iv-pain": "IV ketamine, chronic pain",
    "esketamine-nasal": "Esketamine nasal spray",
}


def family_labels() -> dict[str, str]:
    from ketaclinic.scheduling.services import protocols

    labels: dict[str, str] = {}
    for protocol in sorted(protocols().values(), key=lambda p: (p.family, p.version)):
        labels.setdefault(protocol.family, FAMILY_NAMES.get(protocol.family, protocol.title))
    return labels


def group_labels(group_by: str, keys: Iterable[str]) -> dict[str, str]:
    """A readable label for every key (one query for physicians' names, none otherwise)."""
    keys = list(keys)
    labels = {NO_COURSE: NO_COURSE_LABEL}
    if group_by == "protocol":
        known = family_labels()
        labels.update({k: known.get(k, k) for k in keys if k != NO_COURSE})
    elif group_by == "condition":
        for k in keys:
            if k != NO_COURSE:
                found = CONDITIONS.get(k)
                labels[k] = found.display if found else (k or "No condition recorded")
    elif group_by == "physician":
        ids = [int(k) for k in keys if k.isdigit()]
        users = {str(u.pk): u for u in User.objects.filter(pk__in=ids)}
        for k in keys:
            if k != NO_COURSE:
                user = users.get(k)
                labels[k] = (user.get_full_name() or user.username) if user else "No prescriber"
    else:
        labels.update(COURSE_NUMBER_LABELS)
    return labels


# --------------------------------------------------------------------------- summary


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _group_row(key: str, label: str, c: dict[str, int], o: dict[str, int]) -> dict[str, Any]:
    response_ci = wilson(o["responders"], o["response_n"])
    remission_ci = wilson(o["remitters"], o["remission_n"])
    return {
        "key": key,
        "label": label,
        "patients": c["patients"],
        "treated": c["treated"],
        "with_baseline": o["with_baseline"],
        "with_followup": o["with_followup"],
        "responders": o["responders"],
        "response_evaluable": o["response_n"],
        "response_rate": _rate(o["responders"], o["response_n"]),
        "response_ci": list(response_ci) if response_ci else None,
        "remitters": o["remitters"],
        "remission_evaluable": o["remission_n"],
        "remission_rate": _rate(o["remitters"], o["remission_n"]),
        "remission_ci": list(remission_ci) if remission_ci else None,
        "dropouts": c["dropouts"],
    }


OUTCOME_COUNTS = {
    "with_baseline": Count("pk", filter=Q(baseline_before_treatment=True)),
    "with_followup": Count("pk", filter=Q(baseline_before_treatment=True, has_follow_up=True)),
    "responders": Count("pk", filter=Q(response=True)),
    "response_n": Count("pk", filter=Q(response__isnull=False)),
    "remitters": Count("pk", filter=Q(remission=True)),
    "remission_n": Count("pk", filter=Q(remission__isnull=False)),
}
EMPTY_OUTCOME = dict.fromkeys(OUTCOME_COUNTS, 0)


def summary(clinic: Clinic, filters: Filters, now: datetime | None = None) -> dict[str, Any]:
    """Per group: counts, response and remission with Wilson intervals, median change, KM.

    Five queries whatever the clinic's size (a sixth for physicians' names).
    """
    now = now or timezone.now()
    # Aggregate names must not shadow fields (`treated`) that the filters refer to.
    counts = {
        row["key"]: {
            "patients": row["n_patients"],
            "treated": row["n_treated"],
            "dropouts": row["n_dropouts"],
        }
        for row in cohorts(clinic, filters)
        .values("key")
        .annotate(
            n_patients=Count("pk"),
            n_treated=Count("pk", filter=Q(treated=True)),
            n_dropouts=Count("pk", filter=dropout_q(now)),
        )
        .order_by()
    }
    found = outcomes(clinic, filters)
    per_group = {
        row["key"]: row for row in found.values("key").annotate(**OUTCOME_COUNTS).order_by()
    }
    changes: dict[str, dict[int, int]] = defaultdict(dict)
    for row in (
        found.filter(baseline_before_treatment=True, change__isnull=False)
        .values("key", "change")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        changes[row["key"]][row["change"]] = row["n"]
    times: dict[str, list[tuple[float, bool, int]]] = defaultdict(list)
    for row in (
        found.filter(response__isnull=False, days_followed__isnull=False)
        .annotate(
            t=Coalesce("days_to_response", "days_followed"),
            event=Case(
                When(days_to_response__isnull=False, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .values("key", "t", "event")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        times[row["key"]].append((row["t"], row["event"], row["n"]))

    keys = sorted(set(counts) | set(per_group), key=lambda k: (k == NO_COURSE, k))
    labels = group_labels(filters.group_by, keys)
    groups = []
    for key in keys:
        c = counts.get(key, {"patients": 0, "treated": 0, "dropouts": 0})
        row = _group_row(key, labels.get(key, key), c, per_group.get(key, EMPTY_OUTCOME))
        row["median_change"] = median_of_counts(changes.get(key, {}))
        row["median_days_to_response"] = kaplan_meier(times.get(key, [])).median
        groups.append(row)
    labels_sorted = sorted(groups, key=lambda g: (g["key"] == NO_COURSE, g["label"].lower()))

    # The whole clinic: sums of the groups, and the statistics over the pooled counts.
    total_counts = {k: sum(g[k] for g in groups) for k in ("patients", "treated", "dropouts")}
    total_outcome = {
        k: sum(per_group.get(g, EMPTY_OUTCOME)[k] for g in keys) for k in OUTCOME_COUNTS
    }
    pooled_changes: dict[int, int] = defaultdict(int)
    for hist in changes.values():
        for value, n in hist.items():
            pooled_changes[value] += n
    all_curve = kaplan_meier(t for rows in times.values() for t in rows)
    total = _group_row("all", "All patients", total_counts, total_outcome)
    total["median_change"] = median_of_counts(pooled_changes)
    total["median_days_to_response"] = all_curve.median
    definition = instruments().get(filters.instrument)
    return {
        "instrument": filters.instrument,
        "instrument_label": SHORT_NAMES[filters.instrument],
        "instrument_title": definition.title if definition else filters.instrument,
        "has_response_rule": bool(definition and definition.outcomes.response),
        "has_remission_rule": bool(definition and definition.outcomes.remission),
        "group_by": filters.group_by,
        "groups": labels_sorted,
        "total": total,
        "curve": all_curve,
    }


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
    ae_table = []
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


# --------------------------------------------------------------------------- drill-down

SAFETY_FIGURES = {
    "sessions": "Sessions with a dose",
    "adverse_events": "Adverse events",
    "bp_excursions": "Blood-pressure excursions",
    "discharge_overrides": "Discharge overrides",
    "rems_late": "REMS forms submitted late or overdue",
    "no_shows": "No-shows",
    "integration_attended": "Integration sessions attended",
}


def patients_behind(
    clinic: Clinic,
    filters: Filters,
    *,
    measure: str,
    key: str | None = None,
    ae_type: str | None = None,
    severity: str | None = None,
    now: datetime | None = None,
) -> QuerySet[Patient]:
    """The patients a dashboard number counts (ValidationError naming `measure` if unknown)."""
    now = now or timezone.now()
    ids: QuerySet[Any]
    if measure in OUTCOME_MEASURES:
        if measure in ("patients", "treated", "dropouts"):
            found = cohorts(clinic, filters)
            if key and key != "all":
                found = found.filter(key=key)
            if measure == "treated":
                found = found.filter(treated=True)
            elif measure == "dropouts":
                found = found.filter(dropout_q(now))
        else:
            found = outcomes(clinic, filters)
            if key and key != "all":
                found = found.filter(key=key)
            found = found.filter(
                **{
                    "with_baseline": {"baseline_before_treatment": True},
                    "with_followup": {"baseline_before_treatment": True, "has_follow_up": True},
                    "responders": {"response": True},
                    "remitters": {"remission": True},
                }[measure]
            )
        ids = found.values("patient_id")
    elif measure in SAFETY_FIGURES:
        sessions = sessions_in(clinic, filters)
        if measure == "sessions":
            ids = sessions.values("patient_id")
        elif measure == "adverse_events":
            events = AdverseEvent.objects.filter(session__in=sessions)
            if ae_type:
                events = events.filter(type=ae_type)
            if severity:
                events = events.filter(severity=severity)
            ids = events.values("session__patient_id")
        elif measure == "bp_excursions":
            ids = SessionAlert.objects.filter(session__in=sessions, code="hypertension").values(
                "session__patient_id"
            )
        elif measure == "discharge_overrides":
            ids = sessions.filter(discharge_override_by__isnull=False).values("patient_id")
        elif measure == "rems_late":
            today = timezone.localdate(now, timezone=clinic.tz)
            ids = RemsForm.objects.filter(
                Q(submitted_on__gt=F("due_on")) | Q(submitted_on__isnull=True, due_on__lt=today),
                session__in=sessions,
            ).values("session__patient_id")
        elif measure == "no_shows":
            ids = (
                appointments_in(clinic, filters, now).filter(status="no_show").values("patient_id")
            )
        else:
            ids = (
                appointments_in(clinic, filters, now)
                .filter(kind="integration", status="completed")
                .values("patient_id")
            )
    else:
        raise ValidationError({"measure": "Unknown figure."})
    return Patient.objects.filter(clinic=clinic, pk__in=ids).order_by(
        "family_key", "given_key", "pk"
    )


def record_drilldown(
    *, actor: Actor, measure: str, patient_ids: list[int], query: dict[str, str]
) -> None:
    """Audit that the actor saw the list of patients behind a figure (ids only)."""
    record(
        actor,
        "outcomes_drilldown",
        object_type="outcomes.figure",
        object_id=measure,
        detail={"shown": patient_ids, "query": query},
    )
