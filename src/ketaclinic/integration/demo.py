"""Demo integration support: therapy rooms, therapist.rivera's caseload with preparation and
integration sessions around the demo courses, progress notes (one still unsigned), a
private psychotherapy note, a treatment plan with goals and practices, and group circles.

Idempotent: a clinic that already has planned integration is left alone.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.integration import circles, notes, planning, plans
from ketaclinic.integration.models import (
    Attendance,
    Circle,
    CircleSeat,
    CircleStatus,
    GoalRating,
    Mode,
    PlannedSession,
    ProgressNote,
    SessionDetail,
)
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse

THERAPY_ROOMS = ["Therapy 1", "Therapy 2"]
COURSES = 4  # demo courses that get their integration planned


def seed(clinic: Any, patients: list[Any]) -> None:
    for i, name in enumerate(THERAPY_ROOMS, start=1):
        Room.objects.get_or_create(
            clinic=clinic, name=name, defaults={"kind": "therapy_room", "position": i}
        )
    member = (
        Membership.objects.select_related("user", "clinic")
        .filter(clinic=clinic, role="therapist", user__username="therapist.rivera")
        .first()
    )
    if member is None or PlannedSession.objects.filter(clinic=clinic).exists():
        return
    actor = Actor(user=member.user, membership=member)
    desk = (
        Membership.objects.select_related("user", "clinic")
        .filter(clinic=clinic, role="front_desk")
        .first()
    )
    if desk is None:
        return
    booker = Actor(user=desk.user, membership=desk)  # the front desk books with the course
    rooms = list(Room.objects.filter(clinic=clinic, kind="therapy_room").order_by("position"))
    courses = [
        c
        for c in TreatmentCourse.objects.filter(
            clinic=clinic, status__in=["active", "planned"], patient__in=patients
        )
        .select_related("patient", "clinic")
        .order_by("pk")
        if scheduling.course_protocol(c).integration is not None
    ][:COURSES]
    now = timezone.now()
    held: list[Appointment] = []
    for index, course in enumerate(courses):
        items = planning.plan_for_course(booker, course, book=False)
        for item in items:
            if item.closes > now:
                continue
            if index == 1 and item.kind == "integration":
                continue  # left missed: the work list and the chart flag it
            at = _past_slot(clinic, item, now, index)
            if at is None:
                continue
            appointment = Appointment.objects.create(
                clinic=clinic,
                patient=course.patient,
                kind=item.kind,
                room=rooms[index % len(rooms)],
                staff=member,
                start=at,
                end=at + timedelta(minutes=planning.SESSION_MINUTES),
                status="completed",
            )
            SessionDetail.objects.create(
                clinic=clinic,
                appointment=appointment,
                mode=Mode.VIDEO if index % 2 else Mode.IN_PERSON,
                meeting_url="https://meet.example.org/harbor-integration" if index % 2 else "",
            )
            item.appointment = appointment
            item.save(update_fields=["appointment"])
            held.append(appointment)
        # The future windows are booked through the real booking checks.
        planning.plan_for_course(booker, course)
    _notes(actor, held, now)
    if courses:
        _plan(actor, courses[0].patient)
    _circles(actor, clinic, member, rooms, [c.patient for c in courses] + list(patients[:6]), now)


def _past_slot(clinic: Any, item: PlannedSession, now: datetime, index: int) -> datetime | None:
    """A time in the window on the therapist's usual hours (Mon-Thu; one hour per patient)."""
    if item.kind == "integration":
        day = item.opens.astimezone(clinic.tz).date() + timedelta(days=1)
    else:
        day = item.closes.astimezone(clinic.tz).date() - timedelta(days=1)
        while day.weekday() > 3:
            day -= timedelta(days=1)
    at = datetime.combine(day, time(10 + index), tzinfo=clinic.tz)
    if not item.opens <= at <= item.closes - timedelta(hours=1) or at > now - timedelta(hours=1):
        at = item.opens + timedelta(hours=2 + index)
        if at + timedelta(hours=1) > min(item.closes, now):
            return None
    return at


def _notes(actor: Actor, held: list[Appointment], now: datetime) -> None:
    for index, appointment in enumerate(held):
        sign = index != len(held) - 1  # the latest note is still unsigned (notes due)
        template = "dap" if index % 2 == 0 else "soap"
        fields = {
            "data": "Reflected on the dosing session; described a sense of distance from "
            "long-held worries."
            if index % 2 == 0
            else "",
            "subjective": "Felt calmer for two days after the session." if index % 2 else "",
            "objective": "Engaged, affect brighter than at preparation." if index % 2 else "",
            "assessment": "Integrating the experience; no new risk.",
            "plan": "Continue the breathing practice; next integration after the next dose.",
            "themes": "Connection, letting go of control",
            "coping": "Walking, journaling",
            "homework": "Journal prompt: what felt different this week?",
            "risk": "none",
        }
        allowed = (*notes.TEMPLATE_FIELDS[template], *notes.COMMON_FIELDS, "risk")
        note = notes.create_progress_note(
            actor=actor,
            patient=appointment.patient,
            template=template,
            fields={k: v for k, v in fields.items() if k in allowed and v},
            appointment=appointment,
            sign=sign,
            # The documented face-to-face time (billing codes the session from it).
            psychotherapy_minutes=(45, 53, 38)[index % 3],
        )
        ProgressNote.objects.filter(pk=note.pk).update(
            created_at=appointment.end + timedelta(minutes=20),
            updated_at=appointment.end + timedelta(minutes=20),
            signed_at=appointment.end + timedelta(minutes=30) if sign else None,
        )
    if held:
        notes.write_psychotherapy_note(
            actor=actor,
            patient=held[0].patient,
            text="Process impressions (demo): transference themes around the father; explore "
            "the image of the closed door next time.",
            appointment=held[0],
        )


def _plan(actor: Actor, patient: Any) -> None:
    today = actor.clinic.today()
    plan = plans.save_plan(
        actor=actor,
        patient=patient,
        goals=[
            {
                "words": "I want to enjoy mornings again",
                "measure": "instrument",
                "instrument": "phq9",
                "baseline": Decimal(18),
                "target": Decimal(9),
            },
            {
                "words": "Feel safe enough to sleep through the night",
                "measure": "personal",
                "scale_label": "Feeling safe at night",
                "baseline": Decimal(3),
                "target": Decimal(7),
            },
        ],
        interventions="Ketamine-assisted psychotherapy: preparation, integration within 72 h of "
        "the first three doses, then every second; mindfulness-based practices.",
        review_on=today + timedelta(days=42),
    )
    personal = plan.goals.filter(measure="personal").first()
    if personal is not None:
        GoalRating.objects.create(goal=personal, value=Decimal(5), by=actor.user)
    for kind, title, days in (
        ("journal", "What felt different this week?", 3),
        ("breathing", "Box breathing, 5 minutes each morning", 7),
        ("walking", "A 20-minute walk outside", 7),
    ):
        plans.add_homework(
            actor=actor,
            patient=patient,
            kind=kind,
            title=title,
            due_on=today + timedelta(days=days),
        )


def _circles(
    actor: Actor,
    clinic: Any,
    member: Membership,
    rooms: list[Room],
    people: list[Any],
    now: datetime,
) -> None:
    group = list({p.pk: p for p in people}.values())[:5]  # each person once, in order
    if len(group) < 2 or not rooms:
        return
    today = clinic.today()
    past_day = today - timedelta(days=(today.weekday() - 2) % 7 or 7)  # the last Wednesday
    start = datetime.combine(past_day, time(15), tzinfo=clinic.tz)
    past = Circle.objects.create(
        clinic=clinic,
        title="Integration circle",
        therapist=member,
        room=rooms[-1],
        start=start,
        end=start + timedelta(minutes=90),
        status=CircleStatus.COMPLETED,
    )
    for i, patient in enumerate(group[:4]):
        CircleSeat.objects.create(
            clinic=clinic,
            circle=past,
            patient=patient,
            attendance=Attendance.ABSENT if i == 3 else Attendance.ATTENDED,
            marked_at=past.end,
        )
    # The next one is booked through the service (room, therapist and patients checked).
    for days, hour in ((7, 15), (7, 10), (8, 15), (8, 10), (14, 15)):
        upcoming = datetime.combine(past_day + timedelta(days=days), time(hour), tzinfo=clinic.tz)
        try:
            circles.create_circle(
                actor=actor,
                title="Integration circle",
                therapist=member,
                room=rooms[-1],
                start=upcoming,
                minutes=90,
                patients=group,
            )
        except ValidationError:
            continue
        return
