"""The dashboard's filters, its groupings and the cohort and outcome rows they select."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    CharField,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from ketaclinic.accounts.models import Clinic, User
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.outcomes.models import InstrumentOutcome, PatientCohort

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class Keyed(TypedDict):
    """The group key `cohorts` and `outcomes` annotate each row with (`_key`)."""

    key: str


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


def cohorts(clinic: Clinic, filters: Filters) -> QuerySet[WithAnnotations[PatientCohort, Keyed]]:
    found = PatientCohort.objects.filter(clinic=clinic)
    if filters.with_course_only:
        found = found.filter(courses__gt=0)
    if filters.date_from:
        found = found.filter(cohort_on__gte=filters.date_from)
    if filters.date_to:
        found = found.filter(cohort_on__lte=filters.date_to)
    return found.annotate(key=_key(filters.group_by))


def outcomes(
    clinic: Clinic, filters: Filters
) -> QuerySet[WithAnnotations[InstrumentOutcome, Keyed]]:
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
