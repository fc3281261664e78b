"""Demo data for this capability, called by seed_demo (idempotent).

Six treatment chairs and two consult rooms, opening hours Mon-Fri 08:00-18:00, staff
hours (a second nurse so four patients can be in treatment at once), an induction
course for every demo patient whose status is "active", and their sessions from the
Monday the courses began to the end of next week (so today's board is full and the
record has history), plus consultations and follow-ups.

A course is activated only when the real screening gate passes (accepted screening,
valid consent, REMS for esketamine); a demo patient whose consent expired or was
withdrawn keeps a planned course, which the chart shows as blocked (and has no past,
completed sessions: it was never activated). Past demo appointments are written
directly (the booking service refuses times that have passed); future ones are placed
by the same planner and checks the clinic uses, each with the nurse the planner
assigned, so the nurses' calendar feeds and the board's staff filter show treatments.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.services import add_staff
from ketaclinic.clinical.scheduling import Preferences, Span, plan_series
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import (
    Appointment,
    ClinicSchedulingSettings,
    CourseStatus,
    DoseOrder,
    OpeningHours,
    Room,
    StaffHours,
    TreatmentCourse,
)
from ketaclinic.screening import gates
from ketaclinic.screening.models import Screening

CHAIRS = [f"Chair {n}" for n in range(1, 7)]
CONSULT_ROOMS = ["Consult A", "Consult B"]
PAIN = {"crps", "fibromyalgia", "neuropathic_pain"}
HOURS = {  # username -> (weekdays, starts, ends)
    "nurse.okafor": (range(5), time(8), time(18)),
    "nurse.adeyemi": (range(5), time(8), time(18)),
    "dr.chen": (range(5), time(8), time(17)),
    "therapist.rivera": (range(4), time(9), time(17)),
}


def first_visit_day(clinic: Any, patients: list[Any]) -> date:
    """The day the demo's current patients were first seen (today before any visit).

    The outcomes archive ends the day before; the billing demo bills from it.
    """
    first = (
        Appointment.objects.filter(patient__in=patients)
        .order_by("start")
        .values_list("start", flat=True)
        .first()
    )
    return clinic.date_of(first) if first else clinic.today()


def seed(clinic: Any, patients: list[Any]) -> None:
    """Extend the demo clinic; `patients` are the clinic's demo patients by MRN order."""
    _floor(clinic)
    physician = (
        Membership.objects.select_related("user").filter(clinic=clinic, role="physician").first()
    )
    if physician is None:
        return
    if not Appointment.objects.filter(clinic=clinic).exists():
        # Courses only on the first seeding: a patient that a later part makes active (the
        # overridden screening) would otherwise get a course with no sessions on the next.
        courses = [
            _course(clinic, p, physician, i) for i, p in enumerate(patients) if p.status == "active"
        ]
        _sessions(clinic, [c for c in courses if c is not None])
        _consultations(clinic, patients, physician)
    # Already seeded, the sessions stay where they were put; the front desk's day is
    # added on any day that has none yet, so Today is never empty in the demo.
    _front_desk_day(clinic, patients, physician)


# The front desk's morning relative to now: (minutes from now, minutes long, kind, room,
# who, status). Some have been and gone, one did not come, one is late, some are due.
DESK_DAY = [
    (-150, 60, "consultation", "Consult A", "physician", "no_show"),
    (-120, 30, "follow_up", "Consult B", "therapist", "completed"),
    (-30, 60, "consultation", "Consult A", "physician", "checked_in"),
    (-15, 30, "follow_up", "Consult B", "physician", "booked"),
    (30, 60, "integration", "Consult B", "therapist", "booked"),
    (45, 60, "consultation", "Consult A", "physician", "booked"),
    (90, 60, "preparation", "Consult B", "therapist", "booked"),
]
TALKING = ["consultation", "follow_up", "preparation", "integration"]


def _front_desk_day(clinic: Any, patients: list[Any], physician: Membership) -> None:
    """Today's consultations, follow-ups and therapy visits around now, in every state.

    Written directly, like every past booking (the booking service refuses the past).
    """
    start, end = services.day_window(clinic, clinic.today())
    today = Appointment.objects.filter(clinic=clinic, start__gte=start, start__lt=end)
    if today.filter(kind__in=TALKING).exists():
        return
    busy = set(today.values_list("patient_id", flat=True))
    free = [p for p in patients if p.pk not in busy and p.status in ("screening", "maintenance")]
    free += [p for p in patients if p.pk not in busy and p not in free]
    therapist = Membership.objects.filter(clinic=clinic, role="therapist").first()
    who = {"physician": physician, "therapist": therapist}
    rooms = {r.name: r for r in Room.objects.filter(clinic=clinic, kind="consult_room")}
    now = timezone.now().replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 15)  # on the board's quarter hours
    rows = []
    for patient, (offset, minutes, kind, room, member, status) in zip(free, DESK_DAY, strict=False):
        begins = now + timedelta(minutes=offset)
        if begins < start or room not in rooms:
            continue  # just after midnight the morning has not happened yet
        rows.append(
            Appointment(
                clinic=clinic,
                patient=patient,
                kind=kind,
                room=rooms[room],
                staff=who[member],
                start=begins,
                end=begins + timedelta(minutes=minutes),
                status=status,
            )
        )
    Appointment.objects.bulk_create(rows)


def _floor(clinic: Any) -> None:
    for i, name in enumerate(CHAIRS, start=1):
        Room.objects.get_or_create(
            clinic=clinic, name=name, defaults={"kind": "treatment_chair", "position": i}
        )
    for i, name in enumerate(CONSULT_ROOMS, start=1):
        Room.objects.get_or_create(
            clinic=clinic, name=name, defaults={"kind": "consult_room", "position": i}
        )
    ClinicSchedulingSettings.objects.get_or_create(clinic=clinic)
    if not OpeningHours.objects.filter(clinic=clinic).exists():
        OpeningHours.objects.bulk_create(
            OpeningHours(clinic=clinic, weekday=d, opens=time(8), closes=time(18)) for d in range(5)
        )
    from ketaclinic.demo.management.commands.seed_demo import DEMO_PASSWORD

    add_staff(
        username="nurse.adeyemi",
        clinic=clinic,
        role="nurse",
        password=DEMO_PASSWORD,
        first_name="Tolu",
        last_name="Adeyemi",
        email="nurse.adeyemi@harbor.example",
        check_password=False,
    )
    members = {
        m.user.username: m
        for m in Membership.objects.select_related("user").filter(
            clinic=clinic, user__username__in=HOURS
        )
    }
    for username, (days, starts, ends) in HOURS.items():
        member = members.get(username)
        if member is None or StaffHours.objects.filter(membership=member).exists():
            continue
        StaffHours.objects.bulk_create(
            StaffHours(clinic=clinic, membership=member, weekday=d, starts=starts, ends=ends)
            for d in days
        )


def _protocol_for(patient: Any, index: int) -> str:
    # The family the physician accepted in the screening demo, so the real gate passes.
    accepted = (
        Screening.objects.filter(patient=patient, decision__in=["accept", "override"])
        .order_by("-created_at")
        .values_list("protocol", flat=True)
        .first()
    )
    if accepted:
        return accepted
    codes = set(patient.conditions.values_list("code", flat=True))
    if codes & PAIN:
        return "ketamine-iv-pain"
    return "esketamine-nasal" if index % 3 == 2 else "ketamine-iv-mood"


def _courses_began(today: date) -> date:
    """The Monday the demo's courses began: this week's from Friday, last week's from Monday
    to Thursday. So on every day some visits are more than three days old, the ones the
    billing demo has approved and claimed (on a Tuesday, this week's Monday is one day old)."""
    return today - timedelta(days=today.weekday() if today.weekday() >= 4 else today.weekday() + 7)


def _course(clinic: Any, patient: Any, physician: Membership, index: int) -> TreatmentCourse | None:
    existing = TreatmentCourse.objects.filter(clinic=clinic, patient=patient).first()
    if existing is not None:
        return existing
    protocol = services.get_protocol(_protocol_for(patient, index))
    monday = _courses_began(clinic.today())
    rule = services.series_rule(protocol)
    now = timezone.now()
    course = TreatmentCourse.objects.create(
        clinic=clinic,
        patient=patient,
        protocol_code=protocol.code,
        protocol_version=protocol.version,
        protocol_hash=services.freeze_protocol(protocol),
        family=protocol.family,
        planned_sessions=rule.sessions,
        start_date=monday,
        prescriber=physician.user,
        signed_at=now,
    )
    dose = protocol.dose
    if dose.kind == "fixed_mg":
        dose_mg, mg_per_kg, basis = dose.starting_dose_mg.value, None, ""
    else:
        dose_mg, mg_per_kg, basis = None, dose.default_mg_per_kg.value, dose.default_weight_basis
    DoseOrder.objects.create(
        clinic=clinic,
        course=course,
        dose_mg=dose_mg,
        dose_mg_per_kg=mg_per_kg,
        weight_basis=basis,
        reason="Initial prescription.",
        signed_by=physician.user,
        signed_at=now,
    )
    if not gates.missing_for_course(patient=patient, family=protocol.family, on=monday):
        course.status = CourseStatus.ACTIVE
        course.activated_at = now
        course.save(update_fields=["status", "activated_at"])
    return course


def _sessions(clinic: Any, courses: list[TreatmentCourse]) -> None:
    """Plan each course from the Monday it began on the shared floor; keep up to next week."""
    today = clinic.today()
    monday = _courses_began(today)
    horizon = today - timedelta(days=today.weekday()) + timedelta(days=14)
    window = Span(
        datetime.combine(monday, time(0), tzinfo=clinic.tz),
        datetime.combine(horizon, time(0), tzinfo=clinic.tz),
    )
    now = timezone.now().replace(second=0, microsecond=0)
    live = _live_first_sessions(clinic, courses, now)
    floor = services.load_floor(clinic, window)
    rooms = {r.pk: r for r in Room.objects.filter(clinic=clinic)}
    nurses = {m.pk: m for m in Membership.objects.filter(clinic=clinic, role="nurse")}
    earliest = [time(8), time(9), time(10), time(12), time(13)]
    rows = []
    for i, course in enumerate(courses):
        rule = services.series_rule(services.course_protocol(course))
        prefs = Preferences(earliest=earliest[i % len(earliest)], latest_start=time(16))
        start_date = monday
        if course.pk in live:
            # The rest of the series after its first session, the protocol's spacing on.
            first = live[course.pk]
            gap = timedelta(hours=float(rule.min_hours or 24))
            start_date = (first.start + gap).astimezone(clinic.tz).date() + timedelta(days=1)
            rule = replace(rule, sessions=rule.sessions - 1)
        plan = plan_series(floor, rule=rule, prefs=prefs, start_date=start_date, hold=True)
        for s in plan.sessions:
            if s.start.astimezone(clinic.tz).date() >= horizon:
                continue
            done = s.end <= now
            if done and course.status != CourseStatus.ACTIVE:
                continue  # a course never activated has no treatments behind it
            rows.append(
                Appointment(
                    clinic=clinic,
                    patient=course.patient,
                    kind="treatment",
                    room=rooms[s.room],
                    course=course,
                    staff=nurses.get(s.nurse) if s.nurse is not None else None,
                    start=s.start,
                    end=s.end,
                    status="completed" if done else "booked",
                )
            )
    Appointment.objects.bulk_create(rows)


def _live_first_sessions(
    clinic: Any, courses: list[TreatmentCourse], now: datetime
) -> dict[int, Appointment]:
    """One IV course and one esketamine course begin today: their first session is under
    way now (the treatment demo runs it), whatever time the demo is loaded, so the chair
    board and the day board always agree. Written directly, like every past booking."""
    starts = {
        "ketamine-iv-mood": now - timedelta(minutes=40),
        "esketamine-nasal": now - timedelta(minutes=65),
    }
    chairs = list(Room.objects.filter(clinic=clinic, kind="treatment_chair").order_by("position"))
    nurse = Membership.objects.filter(clinic=clinic, role="nurse").order_by("pk").first()
    live: dict[int, Appointment] = {}
    for course in reversed(courses):  # the last of each kind: the others keep this Monday
        if course.status != CourseStatus.ACTIVE or course.protocol_code not in starts:
            continue
        start = starts.pop(course.protocol_code)
        rule = services.series_rule(services.course_protocol(course))
        end = start + timedelta(minutes=rule.chair_minutes)
        taken = {a.room_id for a in live.values() if a.start < end and start < a.end}
        room = next(c for c in chairs if c.pk not in taken)
        TreatmentCourse.objects.filter(pk=course.pk).update(
            start_date=start.astimezone(clinic.tz).date()
        )
        live[course.pk] = Appointment.objects.create(
            clinic=clinic,
            patient=course.patient,
            kind="treatment",
            room=room,
            course=course,
            staff=nurse,
            start=start,
            end=end,
            status="booked",
        )
    return live


def _consultations(clinic: Any, patients: list[Any], physician: Membership) -> None:
    """Consultations for patients in screening, follow-ups for those in maintenance."""
    today = clinic.today()
    monday = today - timedelta(days=today.weekday())
    therapist = Membership.objects.filter(clinic=clinic, role="therapist").first()
    consult = {r.name: r for r in Room.objects.filter(clinic=clinic, kind="consult_room")}
    now = timezone.now()
    rows: list[Appointment] = []
    member: Membership | None
    slot = 0
    for patient in patients:
        if patient.status not in ("screening", "maintenance"):
            continue
        # Mon-Thu (the therapist's days), this week and next.
        day = monday + timedelta(days=slot % 4 + 7 * (slot // 4 % 2))
        if patient.status == "screening":
            kind, room, member, minutes, hour = (
                "consultation",
                consult["Consult A"],
                physician,
                60,
                9 + slot % 6,
            )
        else:
            kind, room, member, minutes, hour = (
                "follow_up",
                consult["Consult B"],
                therapist,
                30,
                10 + slot % 6,
            )
        start = datetime.combine(day, time(hour), tzinfo=clinic.tz)
        end = start + timedelta(minutes=minutes)
        if any(r.room_id == room.pk and r.start < end and start < r.end for r in rows):
            slot += 1
            continue
        rows.append(
            Appointment(
                clinic=clinic,
                patient=patient,
                kind=kind,
                room=room,
                staff=member,
                start=start,
                end=end,
                status="completed" if end <= now else "booked",
            )
        )
        slot += 1
    Appointment.objects.bulk_create(rows)
