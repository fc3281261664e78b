"""Demo data for this capability, called by seed_demo (idempotent).

Synthetic PHQ-9 / GAD-7 histories (a baseline and weekly follow-ups over about eight
weeks) with varied courses: remitters, responders, partial responders and
non-responders; a C-SSRS screen at baseline; and two open suicidality alerts.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.clinical.instruments import score
from ketaclinic.measures.models import Alert, Response, Source
from ketaclinic.measures.registry import instruments

# Fraction of the baseline left at week 8, per course.
COURSES = {
    "remitter": 0.15,
    "responder": 0.42,
    "partial": 0.7,
    "non_responder": 0.95,
}
WEEKS = 8


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
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(weeks=WEEKS, hours=3)
    courses = list(COURSES)
    # Most patients have a history; a few (recently referred) have none yet.
    with_history = [p for i, p in enumerate(patients) if i % 6 != 5]
    # The two open alerts belong to a partial responder and a non-responder (courses 2, 3).
    alert_patients = {p.pk for p in with_history[2:4]}
    rows: list[Response] = []
    for index, patient in enumerate(with_history):
        course = courses[index % len(courses)]
        phq_base = rng.randint(15, 24)
        gad_base = rng.randint(9, 18)
        phq_totals = _course_totals(rng, phq_base, course)
        gad_totals = _course_totals(rng, gad_base, course)
        for week in range(WEEKS + 1):
            at = start + timedelta(weeks=week, minutes=rng.randint(0, 240))
            last = week == WEEKS
            item9 = 1 if (last and patient.pk in alert_patients) else 0
            phq_answers = _answers(rng, 9, 3, phq_totals[week], {9: item9})
            gad_answers = _answers(rng, 7, 3, gad_totals[week], {})
            for definition, answers in ((phq9, phq_answers), (gad7, gad_answers)):
                rows.append(_response(clinic, patient, definition, answers, at, entered_by, week))
        # C-SSRS screen at baseline: mostly no risk, some passive wishes (low).
        first = rng.random() < 0.3
        screen = [first, False, None, None, None, False, None]
        rows.append(_response(clinic, patient, cssrs, screen, start, entered_by, 0))
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
        taken_at=at,
        entered_by=entered_by if source == Source.CLINICIAN else None,
        source=source,
    )
