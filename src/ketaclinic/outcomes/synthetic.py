"""Synthetic treatment histories written in bulk: the demo clinic's past and the benchmark's network.

Each synthetic patient has a condition, usually a course (sometimes a second one, a
re-induction), treatment appointments with discharged sessions twice a week, a few
adverse events and blood-pressure alerts, REMS forms for esketamine, no-shows,
integration appointments, and questionnaires before and during treatment whose
trajectory (remitter, responder, partial, non-responder) is drawn at random. Some
courses stop early with a reason; some are still running. Rows go in with
`bulk_create` (the services refuse back-dated times, and the benchmark needs speed);
`outcomes.upkeep.backfill` must run afterwards. No real person is described.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from ketaclinic.accounts.models import Clinic, User
from ketaclinic.clinical.instruments import score
from ketaclinic.clinical.scheduling import series_rule
from ketaclinic.measures.models import Response
from ketaclinic.measures.registry import instruments as loaded_instruments
from ketaclinic.patients.models import Condition, Patient, search_key
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse
from ketaclinic.treatment.models import AdverseEvent, RemsForm, SessionAlert, TreatmentSession

GIVEN = [
    "Avery",
    "Blake",
    "Casey",
    "Devon",
    "Emery",
    "Finley",
    "Harper",
    "Jesse",
    "Kendall",
    "Logan",
    "Morgan",
    "Parker",
    "Quinn",
    "Reese",
    "Riley",
    "Rowan",
    "Sawyer",
    "Skyler",
]
FAMILY = ["Abbott", "Barros", "Castillo", "Dubois", "Eriksen", "Farouk", "Gallagher", "Horvat",
          "Ibarra", "Jovanovic", "Kaur", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov"]  # fmt: skip
# (condition, weight, families with weights, questionnaires)
CONDITIONS = [
    ("mdd", 55, {"ketamine-iv-mood": 50, "esketamine-nasal": 35, "ketamine-im-mood": 15}, ("phq9", "gad7")),
    ("bipolar_depression", 6, {"ketamine-iv-mood": 1}, ("phq9",)),
    ("ptsd", 14, {"ketamine-iv-mood": 3, "ketamine-im-mood": 1}, ("phq9", "pcl5")),
    ("gad", 7, {"ketamine-iv-mood": 2, "ketamine-im-mood": 1}, ("gad7", "phq9")),
    ("crps", 7, {"ketamine-iv-pain": 1}, ("pain_nrs",)),
    ("fibromyalgia", 5, {"ketamine-iv-pain": 1}, ("pain_nrs", "phq9")),
]  # fmt: skip
FAMILIES = ("ketamine-iv-mood", "esketamine-nasal", "ketamine-im-mood", "ketamine-iv-pain")
# Share of the baseline left at the end of the course, per trajectory, and its weight.
TRAJECTORIES = [(0.2, 30), (0.45, 25), (0.7, 25), (0.95, 20)]
STOP_REASONS = [
    "Moved away",
    "Cost / insurance",
    "Side effects: dissociation too unpleasant",
    "Blood pressure too high on two visits",
    "Patient chose to stop",
    "No improvement after four sessions",
]
AE_TYPES = [
    ("nausea_vomiting", 40),
    ("hypertension", 20),
    ("emergence_reaction", 15),
    ("excessive_sedation", 10),
    ("desaturation", 8),
    ("other", 7),
]
BASELINES = {"phq9": (14, 24), "gad7": (10, 19), "pcl5": (36, 62), "pain_nrs": (6, 9)}


@dataclass
class Built:
    """What a build wrote, by table."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


@dataclass
class _Plan:
    """One synthetic patient's treatment: drawn first, then written as rows."""

    patient: Patient
    family: str
    start: date
    fate: str  # "done", "stopped" or "lapsed"
    instruments: tuple[str, ...]
    trajectory: float  # share of the baseline left at the end
    physician: User
    days: list[date] = field(default_factory=list)


def _answers(items: int, top: int, total: int) -> list[int]:
    """Item answers 0..top summing to `total`, filled from the first item.

    The last item stays 0 while the others can hold the total, so a synthetic PHQ-9
    never endorses item 9 (which would need a suicidality alert this bulk writer skips).
    """
    answers = [0] * items
    left = total
    for i in range(items):
        answers[i] = min(top, left)
        left -= answers[i]
    return answers


def _protocol(family: str) -> Any:
    from ketaclinic.scheduling.services import protocols

    return min(
        (p for p in protocols().values() if p.family == family), key=lambda p: (p.code, p.version)
    )


def _at(day: date, hour: int, tz: Any) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=tz)


def build_history(
    clinic: Clinic,
    *,
    patients: int,
    rng: random.Random,
    first_day: date,
    last_day: date,
    physicians: list[User],
    nurse: User,
    chairs: list[Room],
    mrn_prefix: str,
    maintenance: int = 0,
    batch: int = 5000,
) -> Built:
    """Write `patients` synthetic histories into `clinic` between two days; returns the counts.

    Nothing is dated after `last_day` (nor after yesterday).

    `maintenance` is the most maintenance sessions (every two weeks) a completed
    induction is followed by; each patient gets a random number up to it.
    """
    tz = clinic.tz
    today = clinic.today()  # REMS forms due after the end may have been submitted since
    end = min(today, last_day + timedelta(days=1))  # the first day after the history
    protocol = {family: _protocol(family) for family in FAMILIES}
    planned = {family: series_rule(protocol[family]).sessions for family in FAMILIES}
    loaded = loaded_instruments()
    built = Built()
    people = []
    for n in range(1, patients + 1):
        given, family_name = rng.choice(GIVEN), rng.choice(FAMILY)
        people.append(
            Patient(
                clinic=clinic,
                mrn=f"{mrn_prefix}{n:05d}",
                given_name=given,
                family_name=family_name,
                given_key=search_key(given),
                family_key=search_key(family_name),
                birth_date=date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
                sex_at_birth=rng.choice(["female", "male"]),
                weight_kg=rng.randint(52, 110),
                status="active",
            )
        )
    # bulk_create fills in the primary keys (PostgreSQL, and SQLite 3.35+), so nothing
    # written here is read back.
    Patient.objects.bulk_create(people, batch_size=batch)
    built.add("patients", len(people))

    conditions: list[Condition] = []
    courses: list[TreatmentCourse] = []
    plans: list[_Plan] = []
    weights = [c[1] for c in CONDITIONS]
    span = max(1, (last_day - first_day).days - 14)
    for patient in people:
        code, _w, families, instruments = rng.choices(CONDITIONS, weights=weights)[0]
        conditions.append(Condition(clinic=clinic, patient=patient, code=code))
        if rng.random() < 0.08:  # referred, never treated: the "no course" group
            continue
        family = rng.choices(list(families), weights=list(families.values()))[0]
        start = first_day + timedelta(days=rng.randrange(span))
        roll = rng.random()
        fate = "stopped" if roll < 0.12 else "lapsed" if roll < 0.17 else "done"
        plan = _Plan(
            patient=patient,
            family=family,
            start=start,
            fate=fate,
            instruments=instruments,
            trajectory=rng.choices(TRAJECTORIES, weights=[t[1] for t in TRAJECTORIES])[0][0],
            physician=rng.choice(physicians),
        )
        sessions_given = planned[family]
        if fate != "done":
            sessions_given = rng.randint(1, max(1, planned[family] - 2))
        # Sessions twice a week; a course still inside its induction at the end keeps going.
        days = [start + timedelta(days=(i * 7) // 2) for i in range(sessions_given)]
        phase = "induction"
        if fate == "done" and maintenance:
            # Maintenance every two weeks after the induction (the benchmark's volume).
            extra = rng.randint(0, maintenance)
            days += [days[-1] + timedelta(days=14 * (k + 1)) for k in range(extra)]
            phase = "maintenance" if extra else phase
        days = [d for d in days if d < end]
        if not days:
            continue
        status = "completed" if phase == "induction" else "active"
        if fate == "stopped":
            status = "stopped"
        elif len(days) < planned[family] and fate == "done":
            status = "active"  # still running: censored, not a drop-out
        elif fate == "lapsed":
            status = "paused"
        plan.days = days
        courses.append(
            TreatmentCourse(
                clinic=clinic,
                patient=patient,
                protocol_code=protocol[family].code,
                protocol_version=protocol[family].version,
                family=family,
                phase=phase,
                planned_sessions=planned[family],
                start_date=start,
                status=status,
                stop_reason=rng.choice(STOP_REASONS) if status == "stopped" else "",
                prescriber=plan.physician,
                signed_at=_at(start, 8, tz),
            )
        )
        plans.append(plan)
        if status == "completed" and rng.random() < 0.15:
            # A re-induction some months later: one more course, not re-planned here.
            again = days[-1] + timedelta(days=rng.randint(90, 200))
            if again < end:
                courses.append(
                    TreatmentCourse(
                        clinic=clinic,
                        patient=patient,
                        protocol_code=protocol[family].code,
                        protocol_version=protocol[family].version,
                        family=family,
                        planned_sessions=planned[family],
                        start_date=again,
                        status="planned",
                        prescriber=plan.physician,
                        signed_at=_at(again, 8, tz),
                    )
                )
    Condition.objects.bulk_create(conditions, batch_size=batch)
    built.add("conditions", len(conditions))
    TreatmentCourse.objects.bulk_create(courses, batch_size=batch)
    built.add("courses", len(courses))
    first_course: dict[int, TreatmentCourse] = {}
    for c in courses:  # a patient's first course is appended before any re-induction
        first_course.setdefault(c.patient_id, c)

    appointments: list[Appointment] = []
    appointment_courses: list[TreatmentCourse] = []  # each treatment appointment's course
    extra_appointments: list[Appointment] = []
    responses: list[Response] = []
    for plan in plans:
        patient, course = plan.patient, first_course[plan.patient.pk]
        for i, day in enumerate(plan.days):
            chair = chairs[(patient.pk + i) % len(chairs)]
            start = _at(day, rng.choice([8, 10, 13]), tz)
            appointment_courses.append(course)
            appointments.append(
                Appointment(
                    clinic=clinic,
                    patient=patient,
                    kind="treatment",
                    room=chair,
                    course=course,
                    start=start,
                    end=start + timedelta(hours=2),
                    status="completed",
                )
            )
        if rng.random() < 0.25:
            missed = plan.days[0] + timedelta(days=1)
            if missed < end:
                start = _at(missed, 15, tz)
                extra_appointments.append(
                    Appointment(
                        clinic=clinic,
                        patient=patient,
                        kind="treatment",
                        room=chairs[0],
                        course=course,
                        start=start,
                        end=start + timedelta(hours=2),
                        status="no_show",
                    )  # fmt: skip
                )
        if rng.random() < 0.35:
            for k in range(rng.randint(1, 3)):
                day = plan.days[0] + timedelta(days=2 + 7 * k)
                if day < end:
                    start = _at(day, 16, tz)
                    extra_appointments.append(
                        Appointment(
                            clinic=clinic,
                            patient=patient,
                            kind="integration",
                            room=chairs[-1],
                            start=start,
                            end=start + timedelta(hours=1),
                            status="completed" if rng.random() < 0.8 else "no_show",
                        )  # fmt: skip
                    )
        responses.extend(_scores(clinic, patient, plan, rng, end, loaded))
    Appointment.objects.bulk_create(appointments, batch_size=batch)
    Appointment.objects.bulk_create(extra_appointments, batch_size=batch)
    built.add("appointments", len(appointments) + len(extra_appointments))
    Response.objects.bulk_create(responses, batch_size=batch)
    built.add("responses", len(responses))

    sessions: list[TreatmentSession] = []
    dose_times: list[datetime] = []
    for appointment, course in zip(appointments, appointment_courses, strict=True):
        used = protocol[course.family]
        dose = appointment.start + timedelta(minutes=20)
        dose_times.append(dose)
        overridden = rng.random() < 0.02
        sessions.append(
            TreatmentSession(
                clinic=clinic,
                patient_id=appointment.patient_id,
                appointment=appointment,
                course=course,
                room_id=appointment.room_id,
                protocol_code=used.code,
                protocol_version=used.version,
                drug=used.drug,
                route=used.route,
                state="discharged",
                started_at=appointment.start,
                started_by=nurse,
                dose_started_at=dose,
                dose_ended_at=dose + timedelta(minutes=40),
                discharged_at=appointment.start + timedelta(minutes=115),
                discharge_override_by=physicians[0] if overridden else None,
                discharge_override_reason="Escort arrived; assessed fit to leave"
                if overridden
                else "",
                nurse_signed_by=nurse,
                nurse_signed_at=appointment.start + timedelta(minutes=120),
            )
        )
    TreatmentSession.objects.bulk_create(sessions, batch_size=batch)
    built.add("sessions", len(sessions))

    events: list[AdverseEvent] = []
    alerts: list[SessionAlert] = []
    forms: list[RemsForm] = []
    ae_weights = [w for _, w in AE_TYPES]
    for session, at in zip(sessions, dose_times, strict=True):
        if rng.random() < 0.07:
            kind = rng.choices(AE_TYPES, weights=ae_weights)[0][0]
            severity = rng.choices(["mild", "moderate", "severe"], weights=[75, 22, 3])[0]
            events.append(
                AdverseEvent(
                    session=session,
                    type=kind,
                    severity=severity,
                    onset_at=at + timedelta(minutes=30),
                    outcome="resolved",
                    serious=severity == "severe",
                    recorded_by=nurse,
                    recorded_at=at + timedelta(minutes=35),
                )  # fmt: skip
            )
        if rng.random() < 0.06:
            alerts.append(
                SessionAlert(
                    session=session,
                    code="hypertension",
                    level="high",
                    message="Blood pressure above the protocol's limit",
                    rule_id="bp_high",
                    raised_at=at + timedelta(minutes=40),
                    acknowledged_by=nurse,
                    acknowledged_at=at + timedelta(minutes=42),
                )  # fmt: skip
            )
        if session.drug == "esketamine":
            day = clinic.date_of(at)
            late = rng.random() < 0.06
            submitted = day + timedelta(days=rng.randint(8, 12) if late else rng.randint(0, 6))
            forms.append(
                RemsForm(
                    clinic=clinic,
                    session=session,
                    form_version="PMF-2025",
                    data={},
                    due_on=day + timedelta(days=7),
                    submitted_on=submitted if submitted <= today else None,
                    submitted_by=nurse if submitted <= today else None,
                )  # fmt: skip
            )
    AdverseEvent.objects.bulk_create(events, batch_size=batch)
    SessionAlert.objects.bulk_create(alerts, batch_size=batch)
    RemsForm.objects.bulk_create(forms, batch_size=batch)
    built.add("adverse_events", len(events))
    built.add("session_alerts", len(alerts))
    built.add("rems_forms", len(forms))
    return built


def _scores(
    clinic: Clinic,
    patient: Patient,
    plan: _Plan,
    rng: random.Random,
    end: date,
    loaded: dict[str, Any],
) -> list[Response]:
    """A baseline before the first dose, scores after sessions 2, 4, 6 ..., one after the last."""
    days = plan.days
    moments = [days[0] - timedelta(days=2)]
    moments += [days[i] + timedelta(days=1) for i in range(1, len(days), 2)]
    if plan.fate == "done" and len(days) > 1:
        moments.append(days[-1] + timedelta(days=14))
    moments = [m for m in moments if m < end]
    rows = []
    tz = clinic.tz
    for code in plan.instruments:
        definition = loaded[code]
        items = len(definition.items)
        top = max(o.value for o in definition.items[0].options)
        high = definition.score_range()[1]
        low_base, high_base = BASELINES[code]
        baseline = rng.randint(low_base, high_base)
        end_share = plan.trajectory
        for index, day in enumerate(moments):
            progress = min(1.0, index / max(1, len(moments) - 1))
            # Most change early, as with ketamine; a point of noise after the baseline.
            expected = baseline - baseline * (1 - end_share) * (1 - (1 - progress) ** 2)
            noise = 0 if index == 0 else rng.choice([-1, 0, 0, 1])
            answers = _answers(items, top, max(0, min(high, round(expected) + noise)))
            result = score(definition, answers)
            rows.append(
                Response(
                    clinic=clinic,
                    patient=patient,
                    instrument=code,
                    version=definition.version,
                    answers=answers,
                    total=result.total,
                    severity=result.severity or "",
                    severity_label=result.severity_label or "",
                    subscores=dict(result.subscores),
                    provisional_diagnosis=result.provisional_diagnosis,
                    above_cutoff=result.above_cutoff,
                    taken_at=_at(day, 9, tz),
                    source="clinician",
                )
            )
    return rows
