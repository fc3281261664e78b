"""Demo data for this capability, called by seed_demo (idempotent).

Synthetic PHQ-9 / GAD-7 histories that agree with the rest of the demo clinic:
- maintenance and inactive patients finished a course before the clinic used this
  software: a baseline and eight weekly follow-ups with varied courses (remitters,
  responders, partial and non-responders); no sessions are recorded here, so the
  baseline is their first score and the chart says so ("No treatment sessions recorded
  here") rather than inventing sessions;
- active patients start their course this Monday (the scheduling demo plans it so):
  four weekly pre-treatment scores, the last of which is their baseline;
- patients in screening have one intake score; referred patients have none.
Every patient with scores has a C-SSRS screen at the first one. Two suicidality alerts
are open: one on a maintenance patient's latest PHQ-9, one at an intake two hours ago.
Questionnaire schedules: before every appointment for active patients, every four weeks
for those in maintenance.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.clinical.instruments import score
from ketaclinic.measures.models import Alert, Response, Schedule, ScheduleKind, Source
from ketaclinic.measures.registry import instruments

# Fraction of the baseline left at week 8, per course.
COURSES = {
    "remitter": 0.15,
    "responder": 0.42,
    "partial": 0.7,
    "non_responder": 0.95,
}
WEEKS = 8
PRE_TREATMENT_WEEKS = 4


def _answers(
    rng: random.Random, items: int, top: int, total: int, fixed: dict[int, int]
) -> list[int]:
    """Item answers (0..top) summing to `total`, with some items fixed (1-based)."""
    answers = [0] * items
    for number, value in fixed.items():
        answers[number - 1] = value
    free = [i for i in range(items) if i + 1 not in fixed]
    left = max(0, min(total - sum(answers), len(free) * top))
    while left > 0:
        i = rng.choice(free)
        if answers[i] < top:
            answers[i] += 1
            left -= 1
    return answers


def _course_totals(rng: random.Random, baseline: int, course: str) -> list[int]:
    end = baseline * COURSES[course]
    totals = []
    for week in range(WEEKS + 1):
        share = week / WEEKS
        # Most of the change comes early with ketamine; noise of a point or two.
        expected = baseline - (baseline - end) * (1 - (1 - share) ** 2)
        noise = 0 if week == 0 else rng.choice([-1, 0, 0, 1])
        totals.append(max(0, round(expected) + noise))
    return totals


def seed(clinic, patients) -> None:
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
    _schedules(clinic, patients)
    if Response.objects.filter(clinic=clinic).exists():
        return
    loaded = instruments()
    phq9, gad7, cssrs = loaded["phq9"], loaded["gad7"], loaded["cssrs_screen"]
    rng = random.Random(2026)
    nurse = (
        Membership.objects.filter(clinic=clinic, role="nurse", is_active=True)
        .select_related("user")
        .first()
    )
    entered_by = nurse.user if nurse else None
    # Every time is in the past: the API refuses a questionnaire dated in the future.
    now = timezone.now().replace(second=0, microsecond=0)
    today = timezone.localdate(now, clinic.tz)
    monday = datetime.combine(today - timedelta(days=today.weekday()), time(0), tzinfo=clinic.tz)
    finished = [p for p in patients if p.status in ("maintenance", "inactive")]
    active = [p for p in patients if p.status == "active"]
    screening = [p for p in patients if p.status == "screening"]
    # One open alert on a maintenance patient's latest PHQ-9, one at today's intake.
    maintenance = [p for p in finished if p.status == "maintenance"]
    alert_patients = {p.pk for p in maintenance[:1] + screening[:1]}
    rows: list[Response] = []

    def add(patient, week_times, phq_totals, gad_totals):
        for week, at in enumerate(week_times):
            item9 = 1 if (week == len(week_times) - 1 and patient.pk in alert_patients) else 0
            phq = _answers(rng, 9, 3, phq_totals[week], {9: item9})
            gad = _answers(rng, 7, 3, gad_totals[week], {})
            for definition, answers in ((phq9, phq), (gad7, gad)):
                rows.append(_response(clinic, patient, definition, answers, at, entered_by, week))
        # C-SSRS screen with the first score: mostly no risk, some passive wishes (low).
        screen = [rng.random() < 0.3, False, None, None, None, False, None]
        rows.append(_response(clinic, patient, cssrs, screen, week_times[0], entered_by, 0))

    for index, patient in enumerate(finished):
        course = list(COURSES)[index % len(COURSES)]
        end = (
            now - timedelta(hours=3)
            if patient.status == "maintenance"
            else now - timedelta(weeks=6)
        )
        times = [
            end - timedelta(weeks=WEEKS - week, minutes=rng.randint(0, 240))
            for week in range(WEEKS + 1)
        ]
        add(
            patient,
            times,
            _course_totals(rng, rng.randint(15, 24), course),
            _course_totals(rng, rng.randint(9, 18), course),
        )
    for patient in active:
        # Before this Monday, when the scheduling demo starts every active course.
        times = [
            monday - timedelta(weeks=PRE_TREATMENT_WEEKS - week, hours=rng.randint(-60, -10))
            for week in range(PRE_TREATMENT_WEEKS)
        ]
        phq_base, gad_base = rng.randint(16, 24), rng.randint(10, 18)
        add(
            patient,
            times,
            [max(0, phq_base + rng.choice([-1, 0, 1])) for _ in times],
            [max(0, gad_base + rng.choice([-1, 0, 1])) for _ in times],
        )
    for patient in screening:
        at = now - timedelta(days=rng.randint(2, 9), minutes=rng.randint(0, 240))
        if patient.pk in alert_patients:
            at = now - timedelta(hours=2)
        add(patient, [at], [rng.randint(14, 24)], [rng.randint(9, 18)])
    Response.objects.bulk_create(rows)
    # Open alerts only for the alert patients' latest PHQ-9 (earlier item 9 answers are 0).
    for response in Response.objects.filter(
        clinic=clinic, patient_id__in=alert_patients, instrument="phq9"
    ).order_by("patient_id", "-taken_at"):
        if response.answers[8] and not Alert.objects.filter(response=response).exists():
            result = score(phq9, response.answers)
            for a in result.alerts:
                Alert.objects.create(
                    clinic=clinic,
                    patient_id=response.patient_id,
                    response=response,
                    code=a.code,
                    level=a.level,
                    message=a.message,
                    opened_at=response.taken_at,
                    # History: the physician was told at the time, so the worker does
                    # not e-mail demo alerts on every fresh install.
                    notified_at=response.taken_at,
                )


def _response(clinic, patient, definition, answers, at, entered_by, week) -> Response:
    result = score(definition, answers)
    # Patients fill the follow-ups from e-mailed links; the clinic enters the baseline.
    source = Source.CLINICIAN if week == 0 else Source.PATIENT_LINK
    return Response(
        clinic=clinic,
        patient=patient,
        instrument=definition.code,
        version=definition.version,
        answers=list(answers),
        total=result.total,
        severity=result.severity or "",
        severity_label=result.severity_label or "",
        subscores=dict(result.subscores),
        prorated=result.prorated,
        missing_items=list(result.missing_items),
        provisional_diagnosis=result.provisional_diagnosis,
        above_cutoff=result.above_cutoff,
        taken_at=at,
        entered_by=entered_by if source == Source.CLINICIAN else None,
        source=source,
    )


def _schedules(clinic, patients) -> None:
    """Active patients answer PHQ-9, GAD-7 and the C-SSRS screen before every appointment;
    maintenance patients answer PHQ-9 and GAD-7 every four weeks (once, idempotent)."""
    if Schedule.objects.filter(clinic=clinic).exists():
        return
    nurse = Membership.objects.filter(clinic=clinic, role="nurse").select_related("user").first()
    if nurse is None:
        return
    now = timezone.now()
    rows = []
    for patient in patients:
        if patient.status == "active":
            rows.append(
                Schedule(
                    clinic=clinic,
                    patient=patient,
                    instruments=["phq9", "gad7", "cssrs_screen"],
                    kind=ScheduleKind.BEFORE_APPOINTMENT,
                    created_by=nurse.user,
                )
            )
        elif patient.status == "maintenance":
            rows.append(
                Schedule(
                    clinic=clinic,
                    patient=patient,
                    instruments=["phq9", "gad7"],
                    kind=ScheduleKind.EVERY_N_DAYS,
                    every_days=28,
                    # The latest scores are recent: the next pair is due in four weeks.
                    next_due_at=now + timedelta(days=28),
                    created_by=nurse.user,
                )
            )
    Schedule.objects.bulk_create(rows)
