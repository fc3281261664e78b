"""Keep the per-patient outcome rows current: the services that write call `patient_changed`.

A questionnaire saved, a dose given, a session ended or a course started or ended can
change a patient's outcome; each of those services calls `patient_changed(patient_id)`
(one line), and the rows are rewritten once the write has committed. The rows are a
cache of what `/patients/{id}/outcomes` computes: they use the same function
(`measures.services.series_for`) on the same inputs, so the two cannot disagree. If a
refresh fails the write still stands; `backfill_outcomes` rebuilds every row.

Rows are computed for many patients at once with a fixed number of queries, so the
backfill of a 1,000-patient clinic costs the same handful of queries as one patient.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from ketaclinic.measures.models import Response
from ketaclinic.measures.services import series_for
from ketaclinic.outcomes.models import InstrumentOutcome, PatientCohort
from ketaclinic.patients.models import Condition, Patient
from ketaclinic.scheduling.models import TreatmentCourse
from ketaclinic.treatment.models import TreatmentSession

CHUNK = 2000


def patient_changed(patient_id: int) -> None:
    """Rewrite the patient's outcome rows once the current transaction commits."""
    transaction.on_commit(partial(refresh_patients, [patient_id]), robust=True)


def _days(later: datetime, earlier: datetime) -> float:
    seconds = Decimal((later - earlier).total_seconds())
    return float((seconds / 86400).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _facts(ids: Sequence[int]) -> dict[str, Any]:
    """Everything the rows of these patients need, in five queries."""
    patients = {
        p["pk"]: p
        for p in Patient.objects.filter(pk__in=ids).values(
            "pk", "clinic_id", "created_at", "clinic__timezone"
        )
    }
    courses: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in (
        TreatmentCourse.objects.filter(patient_id__in=ids)
        .order_by("patient_id", "start_date", "pk")
        .values(
            "pk",
            "patient_id",
            "family",
            "prescriber_id",
            "planned_sessions",
            "status",
            "stop_reason",
        )
    ):
        courses[c["patient_id"]].append(dict(c))
    given: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for s in (
        TreatmentSession.objects.filter(patient_id__in=ids, dose_started_at__isnull=False)
        .values("patient_id", "course_id")
        .annotate(n=Count("pk"), first=Min("dose_started_at"), last=Max("dose_started_at"))
        .order_by()
    ):
        given[s["patient_id"]][s["course_id"]] = dict(s)
    conditions: dict[int, str] = {}
    for patient_id, code in (
        Condition.objects.filter(patient_id__in=ids, is_active=True)
        .order_by("patient_id", "recorded_at", "pk")
        .values_list("patient_id", "code")
    ):
        conditions.setdefault(patient_id, code)
    totals: dict[int, list[tuple[str, datetime, int]]] = defaultdict(list)
    for patient_id, code, at, total in (
        Response.objects.filter(patient_id__in=ids, total__isnull=False)
        .order_by("taken_at", "pk")
        .values_list("patient_id", "instrument", "taken_at", "total")
    ):
        if total is not None:  # asked for above
            totals[patient_id].append((code, at, total))
    return {
        "patients": patients,
        "courses": courses,
        "given": given,
        "conditions": conditions,
        "totals": totals,
    }


def _rows(
    patient: dict[str, Any], facts: dict[str, Any], now: datetime
) -> tuple[PatientCohort, list[InstrumentOutcome]]:
    pk = patient["pk"]
    courses = facts["courses"].get(pk, [])
    given = facts["given"].get(pk, {})
    first_dose = min((s["first"] for s in given.values()), default=None)
    first = courses[0] if courses else None
    first_given = given.get(first["pk"]) if first else None
    tz = zoneinfo.ZoneInfo(patient["clinic__timezone"])
    cohort = PatientCohort(
        clinic_id=patient["clinic_id"],
        patient_id=pk,
        cohort_on=timezone.localtime(first_dose or patient["created_at"], tz).date(),
        treated=first_dose is not None,
        family=first["family"] if first else "",
        condition=facts["conditions"].get(pk, ""),
        physician_id=first["prescriber_id"] if first else None,
        courses=len(courses),
        planned_sessions=first["planned_sessions"] if first else 0,
        sessions_given=first_given["n"] if first_given else 0,
        course_status=first["status"] if first else "",
        course_stop_reason=first["stop_reason"] if first else "",
        last_session_at=first_given["last"] if first_given else None,
        refreshed_at=now,
    )
    outcomes = []
    for series in series_for(facts["totals"].get(pk, []), first_dose):
        s = series.summary
        if s is None:
            continue
        followed = None
        if first_dose is not None and s.response is not None:
            followed = _days(s.latest.at, first_dose)
        outcomes.append(
            InstrumentOutcome(
                clinic_id=patient["clinic_id"],
                patient_id=pk,
                instrument=s.instrument,
                baseline=s.baseline.total,
                latest=s.latest.total,
                baseline_before_treatment=s.baseline_before_treatment,
                has_follow_up=s.has_follow_up,
                change=s.change,
                response=s.response,
                remission=s.remission,
                days_to_response=s.time_to_first_response_days,
                days_followed=followed,
            )
        )
    return cohort, outcomes


def refresh_patients(patient_ids: Iterable[int]) -> int:
    """Rewrite the outcome rows of these patients; returns how many patients were written."""
    ids = sorted(set(patient_ids))
    written = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with transaction.atomic():
            # Two refreshes of one patient at once (two writes committing together) take
            # turns here, so the second reads what the first wrote and neither collides.
            list(Patient.objects.select_for_update().filter(pk__in=chunk).values_list("pk"))
            facts = _facts(chunk)
            now = timezone.now()
            cohorts: list[PatientCohort] = []
            outcomes: list[list[InstrumentOutcome]] = []
            for patient in facts["patients"].values():
                cohort, rows = _rows(patient, facts, now)
                cohorts.append(cohort)
                outcomes.append(rows)
            PatientCohort.objects.filter(patient_id__in=chunk).delete()
            PatientCohort.objects.bulk_create(cohorts)
            for cohort, rows in zip(cohorts, outcomes, strict=True):
                for row in rows:
                    row.cohort = cohort
            InstrumentOutcome.objects.bulk_create([r for rows in outcomes for r in rows])
        written += len(cohorts)
    return written


def backfill(clinic_id: int | None = None) -> int:
    """Rebuild the rows of every patient (of one clinic, or of all); returns the count."""
    patients = (
        Patient.objects.all() if clinic_id is None else Patient.objects.filter(clinic_id=clinic_id)
    )
    ids = list(patients.order_by("pk").values_list("pk", flat=True))
    return refresh_patients(ids)
