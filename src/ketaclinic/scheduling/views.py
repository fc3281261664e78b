"""Schedule pages: the day board by chair, the week, moving an appointment, booking a series."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.audit.services import record
from ketaclinic.clinical.scheduling import Preferences
from ketaclinic.links import absolute_url
from ketaclinic.patients.access import get_patient_for
from ketaclinic.scheduling import services
from ketaclinic.scheduling.access import get_appointment_for, get_course_for, get_room_for
from ketaclinic.scheduling.forms import CourseForm, MoveForm, SeriesForm, StatusForm
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentStatus,
    CalendarFeed,
    CourseStatus,
    OpeningHours,
    Room,
    TreatmentCourse,
)

SLOT = timedelta(minutes=15)


# A board further away than this is a typo (and year 9999 has no next day to show).
BOARD_RANGE = timedelta(days=3660)


def _day(request: HttpRequest, clinic: Clinic) -> date:
    today = clinic.today()
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return today
    return day if abs(day - today) <= BOARD_RANGE else today


def _staff_filter(request: HttpRequest, actor: Any) -> tuple[list[Membership], Membership | None]:
    staff = list(
        Membership.objects.active()
        .filter(clinic=actor.clinic, role__in=["physician", "nurse", "therapist"])
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )
    chosen = request.GET.get("staff", "")
    selected = next((m for m in staff if str(m.pk) == chosen), None)
    return staff, selected


def _appointments(
    actor: Any, start: datetime, end: datetime, staff: Membership | None
) -> list[Appointment]:
    found = (
        Appointment.objects.for_clinic(actor.clinic)
        .holding()
        .overlapping(start, end)
        .select_related("patient", "room", "course", "staff__user")
        .order_by("start", "pk")
    )
    if staff is not None:
        found = found.filter(staff=staff)
    return list(found)


def _audit_shown(actor: Any, view: str, appointments: list[Appointment]) -> None:
    record(
        actor,
        "view",
        object_type="scheduling.appointment",
        detail={"view": view, "appointments": [a.pk for a in appointments]},
    )


def board_grid(
    rooms: list[Room],
    appointments: list[Appointment],
    day: date,
    tz: Any,
    hours: list[OpeningHours],
) -> tuple[list[dict[str, Any]], list[Appointment]]:
    """Rows of 15-minute slots with one cell per room; an appointment spans its rows.

    Returns (rows, unplaced): appointments that overlap another in the same room (only
    possible for data written outside the booking checks) are listed apart, never hidden.
    """
    opens = [h for h in hours if h.weekday == day.weekday()]
    first = min((h.opens for h in opens), default=time(8))
    last = max((h.closes for h in opens), default=time(18))
    start = datetime.combine(day, first, tzinfo=tz)
    end = datetime.combine(day, last, tzinfo=tz)
    for a in appointments:
        start = min(start, max(a.start.astimezone(tz), datetime.combine(day, time(0), tzinfo=tz)))
        end = max(
            end,
            min(
                a.end.astimezone(tz), datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
            ),
        )
    slots = []
    t = start
    while t < end:
        slots.append(t)
        t += SLOT
    column = {room.pk: i for i, room in enumerate(rooms)}
    # A free cell knows its room and time, so a click on it can book there.
    cells: list[list[dict[str, Any] | None]] = [
        [{"room": room, "time": t} for room in rooms] for t in slots
    ]
    unplaced = []
    for a in appointments:
        if a.room_id not in column:
            unplaced.append(a)
            continue
        col = column[a.room_id]
        first_row = max(0, int((a.start - start) / SLOT))
        last_row = min(len(slots), max(first_row + 1, -int(-(a.end - start) // SLOT)))
        taken = (cells[r][col] for r in range(first_row, last_row))
        if any(cell is None or "appointment" in cell for cell in taken):
            unplaced.append(a)
            continue
        cells[first_row][col] = {"appointment": a, "rowspan": last_row - first_row}
        for r in range(first_row + 1, last_row):
            cells[r][col] = None  # covered by the cell above
    rows = [
        {
            "time": slots[i],
            "label": slots[i].minute in (0, 30),
            "cells": [c for c in cells[i] if c is not None],
        }
        for i in range(len(slots))
    ]
    return rows, unplaced


@require("schedule.view")
def day_board(request: ClinicRequest) -> HttpResponse:
    """Columns are the rooms and chairs, rows the day's time; appointments span their rows."""
    actor = request.actor
    day = _day(request, actor.clinic)
    staff, selected = _staff_filter(request, actor)
    start, end = services.day_window(actor.clinic, day)
    appointments = _appointments(actor, start, end, selected)
    rooms = list(Room.objects.for_clinic(actor.clinic).filter(active=True))
    hours = list(OpeningHours.objects.filter(clinic=actor.clinic))
    rows, unplaced = board_grid(rooms, appointments, day, actor.clinic.tz, hours)
    _audit_shown(actor, "day_board", appointments)
    return render(
        request,
        "scheduling/day.html",
        {
            "day": day,
            "prev": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "today": actor.clinic.today(),
            "rooms": rooms,
            "rows": rows,
            "unplaced": unplaced,
            "staff": staff,
            "selected": selected,
            "count": len(appointments),
            "appointments": appointments,
            "now": timezone.now(),
        },
    )


@require("schedule.view")
def week_view(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    day = _day(request, actor.clinic)
    monday = day - timedelta(days=day.weekday())
    staff, selected = _staff_filter(request, actor)
    start, _ = services.day_window(actor.clinic, monday)
    _, end = services.day_window(actor.clinic, monday + timedelta(days=6))
    appointments = _appointments(actor, start, end, selected)
    tz = actor.clinic.tz
    days: list[dict[str, Any]] = [
        {"date": monday + timedelta(days=i), "appointments": []} for i in range(7)
    ]
    for a in appointments:
        # One that began the Sunday before and runs past midnight shows on Monday.
        index = min(max((a.start.astimezone(tz).date() - monday).days, 0), 6)
        days[index]["appointments"].append(a)
    if not days[5]["appointments"] and not days[6]["appointments"]:
        days = days[:5]
    _audit_shown(actor, "week", appointments)
    return render(
        request,
        "scheduling/week.html",
        {
            "monday": monday,
            "days": days,
            "prev": monday - timedelta(days=7),
            "next": monday + timedelta(days=7),
            "today": actor.clinic.today(),
            "staff": staff,
            "selected": selected,
            "now": timezone.now(),
        },
    )


def _status_choices(appointment: Appointment) -> list[tuple[str, str]]:
    # In the order of the flow, with no default: a cancellation is never one click away.
    # A treatment goes in progress / completed from its session, not from here.
    allowed = services.allowed_statuses(appointment)
    choices = [(value, label) for value, label in AppointmentStatus.choices if value in allowed]
    return [("", "Choose…"), *choices] if choices else []


def _conflict_list(exc: services.BookingConflict) -> list[dict[str, Any]]:
    return exc.conflicts


@require("schedule.book")
def appointment_page(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    """One appointment: its details, a move form (same checks as the API), a status change."""
    actor = request.actor
    shown = request.method != "POST"  # showing the appointment is a read, audited here
    appointment = get_appointment_for(actor, appointment_id, "schedule.book", read=shown)
    tz = actor.clinic.tz
    local = appointment.start.astimezone(tz)
    form = MoveForm(
        request.POST or None,
        clinic=actor.clinic,
        kind=appointment.kind,
        has_course=appointment.course_id is not None,
        initial={
            "day": local.date(),
            "start_time": local.time(),
            "room": appointment.room_id,
            "staff": appointment.staff_id,
        },
    )
    conflicts: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        start = form.start(tz)
        try:
            if form.cleaned_data.get("replan"):
                assert appointment.course is not None
                proposal = services.plan_course(
                    actor=actor,
                    course=appointment.course,
                    prefs=Preferences(),
                    move=(appointment, start),
                )
                return render(
                    request, "scheduling/series.html", _series_context(actor, None, proposal)
                )
            moved = services.update_appointment(
                actor=actor,
                appointment=appointment,
                start=start,
                room=form.cleaned_data["room"],
                **_staff_change(appointment, form.cleaned_data.get("staff")),
            )
        except services.BookingConflict as exc:
            conflicts = _conflict_list(exc)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request, f"Moved to {moved.start.astimezone(tz):%a %d %b %H:%M}, {moved.room.name}."
            )
            return redirect(f"{reverse('schedule_day')}?day={moved.start.astimezone(tz).date()}")
    return render(
        request,
        "scheduling/appointment.html",
        {
            "appointment": appointment,
            "patient": appointment.patient,
            "form": form,
            "conflicts": conflicts,
            "status_form": StatusForm(choices=_status_choices(appointment)),
        },
    )


def _staff_change(appointment: Appointment, chosen: Membership | None) -> dict[str, Any]:
    """The move form's staff field as update_appointment arguments.

    Unchanged: the service keeps the member (a treatment's nurse is replaced only if
    she cannot take the new time). Another member: that one. Empty: a treatment gets
    any free nurse, another kind nobody.
    """
    if chosen is None:
        return {"reassign_staff": True}
    if chosen.pk == appointment.staff_id:
        return {}
    return {"staff": chosen}


@require_POST
@require("schedule.book")
def appointment_status(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    actor = request.actor
    appointment = get_appointment_for(actor, appointment_id, "schedule.book")
    form = StatusForm(request.POST, choices=_status_choices(appointment))
    if form.is_valid():
        try:
            services.update_appointment(
                actor=actor,
                appointment=appointment,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Status changed.")
    else:
        messages.error(request, "Choose a status.")
    day = appointment.start.astimezone(actor.clinic.tz).date()
    return redirect(f"{reverse('schedule_day')}?day={day}")


def _bookable_courses(actor: Any, patient_id: str | None) -> list[TreatmentCourse]:
    courses = (
        TreatmentCourse.objects.for_clinic(actor.clinic)
        .filter(status__in=[CourseStatus.PLANNED, CourseStatus.ACTIVE])
        .select_related("patient")
        .annotate(
            booked=Count(
                "appointments",
                filter=Q(
                    appointments__status__in=["booked", "checked_in", "in_progress", "completed"]
                ),
            )
        )
        .order_by("start_date", "pk")
    )
    if patient_id:
        courses = courses.filter(patient_id=patient_id)
    return list(courses[:200])


def _series_context(
    actor: Any, form: SeriesForm | None, proposal: services.Proposal | None, **extra: Any
) -> dict[str, Any]:
    return {"form": form, "proposal": proposal, "tz": actor.clinic.tz, **extra}


def _course_label(course: Any) -> str:
    """A course annotated with `booked` (its booked sessions), for the series form."""
    return (
        f"{course.patient.display_name} ({course.patient.mrn}) — {course.protocol_code}, "
        f"from {course.start_date:%d %b %Y}, {course.booked} of {course.planned_sessions} booked"
    )


def _requested_sessions(actor: Any, post: Any) -> list[services.SessionRequest]:
    """The sessions the user confirmed (hidden fields of the proposal)."""
    try:
        count = min(int(post.get("session_count", "0")), 50)
    except ValueError:
        count = 0
    ids = [post.get(f"session-{i}-appointment") for i in range(count)]
    existing = {
        str(a.pk): a
        for a in Appointment.objects.for_clinic(actor.clinic).filter(
            pk__in=[i for i in ids if i and i.isdigit()]
        )
    }
    sessions = []
    for i in range(count):
        try:
            start = datetime.fromisoformat(post.get(f"session-{i}-start", ""))
        except ValueError:
            raise ValidationError({"sessions": "The proposal was damaged; plan again."}) from None
        room = get_room_for(actor, post.get(f"session-{i}-room", ""))
        appointment_id = post.get(f"session-{i}-appointment") or ""
        if appointment_id and appointment_id not in existing:
            raise Http404
        sessions.append(
            services.SessionRequest(
                start=start, room=room, appointment=existing.get(appointment_id)
            )
        )
    return sessions


@require("schedule.book")
def book_series(request: ClinicRequest) -> HttpResponse:
    """Front desk: choose a course and the patient's preferences, see the proposal, confirm."""
    actor = request.actor
    patient_id = request.GET.get("patient") or request.POST.get("patient") or None
    if patient_id:
        get_patient_for(actor, patient_id, "schedule.book")
    courses = _bookable_courses(actor, patient_id)
    choices = [(str(c.pk), _course_label(c)) for c in courses]
    initial = {"course": request.GET.get("course", "")}
    form = SeriesForm(request.POST or None, courses=choices, initial=initial)
    context = _series_context(actor, form, None, patient_id=patient_id, no_courses=not courses)
    if request.method != "POST":
        return render(request, "scheduling/series.html", context)
    action = request.POST.get("action", "plan")
    course_id = request.POST.get("course", "")
    if action == "book":
        course = get_course_for(actor, course_id, "schedule.book")
        try:
            booked = services.book_course(
                actor=actor, course=course, sessions=_requested_sessions(actor, request.POST)
            )
        except services.BookingConflict as exc:
            context.update(conflicts=exc.conflicts)
        except ValidationError as exc:
            context.update(conflicts=[{"code": "invalid", "message": " ".join(exc.messages)}])
        else:
            first = min(a.start for a in booked).astimezone(actor.clinic.tz).date()
            messages.success(
                request, f"{len(booked)} sessions booked for {course.patient.display_name}."
            )
            return redirect(f"{reverse('schedule_day')}?day={first}")
        return render(request, "scheduling/series.html", context)
    if form.is_valid():
        course = get_course_for(actor, form.cleaned_data["course"], "schedule.book")
        prefs = Preferences(
            weekdays=frozenset(int(d) for d in form.cleaned_data["weekdays"]),
            earliest=form.cleaned_data["earliest"],
            latest_start=form.cleaned_data["latest_start"],
        )
        try:
            context["proposal"] = services.plan_course(actor=actor, course=course, prefs=prefs)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
    return render(request, "scheduling/series.html", context)


@require("schedule.view")
def calendar_feed(request: ClinicRequest) -> HttpResponse:
    """The member's own .ics feed: a new secret URL replaces the old one."""
    actor = request.actor
    raw = None
    if request.method == "POST":
        raw = services.issue_calendar_feed(actor=actor)
    exists = CalendarFeed.objects.filter(membership=actor.membership).exists()
    url = absolute_url(reverse("calendar_ics", args=[raw])) if raw else None
    return render(request, "scheduling/calendar_feed.html", {"url": url, "exists": exists})


def calendar_ics(request: HttpRequest, token: str) -> HttpResponse:
    """The .ics feed behind a secret URL (calendar apps cannot log in; the token is the key)."""
    membership = services.feed_membership(token)
    if membership is None:
        raise Http404
    body = services.calendar_ics(membership, timezone.now(), ip=request.META.get("REMOTE_ADDR"))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@require("medical.sign")
def course_new(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """A physician prescribes a course (status planned) with its first signed dose order."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "medical.sign")
    choices = [(code, p.title) for code, p in sorted(services.protocols().items())]
    form = CourseForm(request.POST or None, protocols=choices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        dose_per_kg = data["dose_mg_per_kg"]
        protocol = services.protocols()[data["protocol"]]
        if dose_per_kg is None and data["dose_mg"] is None and protocol.dose.kind == "mg_per_kg":
            dose_per_kg = protocol.dose.default_mg_per_kg.value
        try:
            services.create_course(
                actor=actor,
                patient=patient,
                protocol_code=data["protocol"],
                start_date=data["start_date"],
                dose_mg_per_kg=dose_per_kg,
                dose_mg=data["dose_mg"],
                weight_basis=data["weight_basis"] or None,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request, "Course prescribed. Activate it when screening and consent are done."
            )
            return redirect("patient_chart", patient_id=patient.pk)
    elif request.method != "POST":
        services.record(
            actor, "view", patient_id=patient.pk, obj=patient, detail={"view": "course_new"}
        )
    return render(request, "scheduling/course_new.html", {"form": form, "patient": patient})


@require_POST
@require("medical.sign")
def course_activate(request: ClinicRequest, course_id: int) -> HttpResponse:
    actor = request.actor
    course = get_course_for(actor, course_id, "medical.sign")
    try:
        services.activate_course(actor=actor, course=course)
    except services.CourseBlocked as exc:
        messages.error(
            request, "The course cannot be activated yet. Missing: " + " ".join(exc.missing)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Course activated.")
    return redirect("patient_chart", patient_id=course.patient_id)
