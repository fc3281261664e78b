"""The front of the house: book one appointment from the board, move one, Today's arrivals.

Also where each clinician's day starts: a physician's own list with open alerts, a
therapist's caseload. Every page here works as a plain form post; with htmx the booking
and move forms open in a dialog over the board and the board refreshes behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Min
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import Actor, ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.measures import services as measures_services
from ketaclinic.patients import services as patient_services
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import hooks, services
from ketaclinic.scheduling.access import get_appointment_for
from ketaclinic.scheduling.forms import BookForm, MoveForm
from ketaclinic.scheduling.models import (
    THERAPY_KINDS,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Room,
    RoomKind,
)
from ketaclinic.scheduling.views import _bookable_courses, _course_label, _staff_change

SEARCH_RESULTS = 8
# A booked patient this long past their start is shown as late (clinic policy).
LATE_AFTER = timedelta(minutes=10)
CHANGED = "schedule-changed"  # the htmx event that makes the board reload itself
KIND_ROOM = {kind: str(room_kind) for kind, room_kind in services.ROOM_KIND_FOR.items()}


def _search(actor: Actor, query: str) -> list[Patient]:
    if not query.strip():
        return []
    found = list(patient_services.search_patients(actor=actor, query=query)[:SEARCH_RESULTS])
    patient_services.record_search(actor=actor, patient_ids=[p.pk for p in found])
    return found


def _initial(actor: Actor, params: QueryDict) -> dict[str, Any]:
    """The dialog's first values from the slot that was clicked (all optional)."""
    initial: dict[str, Any] = {}
    for name in ("day", "time", "room", "staff", "patient", "kind"):
        value = params.get(name, "")
        if value and len(value) < 40:
            initial["start_time" if name == "time" else name] = value
    room_id = initial.get("room", "")
    room = (
        Room.objects.for_clinic(actor.clinic).filter(pk=int(room_id)).first()
        if _is_id(room_id)
        else None
    )
    kind = initial.get("kind")
    if kind not in AppointmentKind.values:
        kind = "treatment" if room and room.kind == RoomKind.TREATMENT_CHAIR else "consultation"
        initial["kind"] = kind
    initial.setdefault("minutes", services.DEFAULT_MINUTES.get(kind, ""))
    return initial


def _is_id(value: object) -> bool:
    """A primary key as typed: digits, small enough for the database's integer."""
    text = str(value or "")
    return text.isdigit() and len(text) <= 18


def _patient_from(actor: Actor, value: object) -> Patient | None:
    if not _is_id(value):
        return None
    return Patient.objects.for_clinic(actor.clinic).filter(pk=int(str(value))).first()


def _book_errors(form: BookForm, exc: ValidationError) -> None:
    rename = {"start": "start_time", "end": "minutes"}
    for field, errors in exc.message_dict.items():
        name = rename.get(field, field)
        form.add_error(name if name in form.fields else None, errors)


def _slot(actor: Actor, form: BookForm, patient: Patient) -> services.Slot:
    """The form's appointment as the booking service takes it (the API's checks, 422s)."""
    data = form.cleaned_data
    start = form.start(actor.clinic.tz)
    course = None
    if data["kind"] == AppointmentKind.TREATMENT:
        course = next(
            (c for c in _bookable_courses(actor, str(patient.pk)) if str(c.pk) == data["course"]),
            None,
        )
        if course is None:
            raise ValidationError({"course": "Choose one of the patient's open courses."})
    return services.make_slot(
        patient=patient,
        kind=data["kind"],
        room=data["room"],
        start=start,
        end=start + timedelta(minutes=data["minutes"]) if data.get("minutes") else None,
        course=course,
        staff=data.get("staff"),
    )


@require("schedule.book")
def book(request: ClinicRequest) -> HttpResponse:
    """Book a consultation, follow-up, preparation, integration or single treatment.

    POST actions: ``search`` (find a patient; the terms stay in the body), ``choose``
    (a patient from the results), ``check`` (show the conflicts the booking would
    meet, writing nothing) and ``book``.
    """
    actor = request.actor
    today = actor.clinic.today()
    data: QueryDict | None = None
    if request.method == "POST":
        data = request.POST.copy()
        if _is_id(data.get("choose")):
            data["patient"] = str(data["choose"])
        if data.get("action") == "change":
            data["patient"] = ""
    patient = _patient_from(actor, (data or request.GET).get("patient"))
    courses = _bookable_courses(actor, str(patient.pk)) if patient else []
    form = BookForm(
        data,
        clinic=actor.clinic,
        today=today,
        courses=[(str(c.pk), _course_label(c)) for c in courses],
        initial=_initial(actor, request.GET),
    )
    action = data.get("action", "") if data is not None else ""
    context: dict[str, Any] = {
        "form": form,
        "patient": patient,
        "conflicts": [],
        "checked": None,
        "kind_options": [
            {
                "value": value,
                "label": label,
                "room_kind": KIND_ROOM[value],
                # A treatment's length comes from its protocol when booked.
                "minutes": "" if value == "treatment" else services.DEFAULT_MINUTES[value],
            }
            for value, label in form.kind_choices
        ],
    }
    if data is not None and action == "search":
        context["results"] = _search(actor, data.get("q", "")[:200])
        context["query"] = data.get("q", "")[:200]
    if data is not None and action in ("book", "check") and form.is_valid():
        if patient is None:
            form.add_error("patient", "Choose a patient.")
        else:
            get_patient_for(actor, patient.pk, "schedule.book")
            try:
                if action == "check":
                    context["checked"] = _check(actor, form, patient)
                    context["conflicts"] = context["checked"]
                else:
                    appointment = services.book_appointment(
                        actor=actor, slot=_slot(actor, form, patient)
                    )
            except services.BookingConflict as exc:
                context["conflicts"] = exc.conflicts
            except ValidationError as exc:
                _book_errors(form, exc)
            else:
                if action == "book":
                    return _booked(request, actor, appointment)
    elif data is not None and action not in ("book", "check"):
        form.errors.clear()  # a search or a change of patient is not a submit
    return _render_dialog(request, "scheduling/book.html", context)


def _check(actor: Actor, form: BookForm, patient: Patient) -> list[dict[str, Any]]:
    """The conflicts the booking would meet now, as the API reports them (nothing written)."""
    conflicts = services.check_slot(_slot(actor, form, patient))
    return [{"code": c.code, "message": c.message} for c in conflicts]


def _booked(request: ClinicRequest, actor: Actor, appointment: Appointment) -> HttpResponse:
    local = appointment.start.astimezone(actor.clinic.tz)
    if request.htmx:
        response = render(request, "scheduling/_done.html", {"done": appointment, "what": "Booked"})
        response["HX-Trigger"] = CHANGED
        return response
    messages.success(
        request,
        f"Booked: {appointment.get_kind_display().lower()} for {appointment.patient.display_name}, "
        f"{local:%a %d %b %H:%M}, {appointment.room.name}.",
    )
    return redirect(f"{reverse('schedule_day')}?day={local.date()}")


def _render_dialog(request: ClinicRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """The form alone inside the board's dialog (htmx), or as a page of its own."""
    context["in_dialog"] = bool(request.htmx)
    if request.htmx:
        return render(request, f"{template}#dialog", context)
    return render(request, template, context)


@require("schedule.book")
def move(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    """Move one appointment (the keyboard's way, and where a dragged card is dropped)."""
    actor = request.actor
    shown = request.method != "POST"  # showing the appointment is a read, audited here
    appointment = get_appointment_for(actor, appointment_id, "schedule.book", read=shown)
    tz = actor.clinic.tz
    local = appointment.start.astimezone(tz)
    form = MoveForm(
        request.POST if request.method == "POST" else None,
        clinic=actor.clinic,
        kind=appointment.kind,
        has_course=False,
        initial={
            "day": local.date(),
            "start_time": local.time(),
            "room": appointment.room_id,
            "staff": appointment.staff_id,
        },
    )
    context: dict[str, Any] = {"form": form, "appointment": appointment, "conflicts": []}
    if request.method == "POST" and form.is_valid():
        try:
            moved = services.update_appointment(
                actor=actor,
                appointment=appointment,
                start=form.start(tz),
                room=form.cleaned_data["room"],
                **_staff_change(appointment, form.cleaned_data.get("staff")),
            )
        except services.BookingConflict as exc:
            context["conflicts"] = exc.conflicts
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if request.htmx:
                response = render(
                    request, "scheduling/_done.html", {"done": moved, "what": "Moved"}
                )
                response["HX-Trigger"] = CHANGED
                return response
            when = moved.start.astimezone(tz)
            messages.success(request, f"Moved to {when:%a %d %b %H:%M}, {moved.room.name}.")
            return redirect(f"{reverse('schedule_day')}?day={when.date()}")
    return _render_dialog(request, "scheduling/move.html", context)


# --- Today -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One row of Today: the appointment and what the desk may do with it now."""

    appointment: Appointment
    late_minutes: int
    can_check_in: bool
    can_undo: bool
    can_no_show: bool
    can_start: bool


def _arrival(actor: Actor, a: Appointment, now: datetime, sessions: set[int]) -> Arrival:
    books = actor.may("schedule.book")
    waiting = a.status == AppointmentStatus.BOOKED
    late = (
        int((now - a.start) / timedelta(minutes=1)) if waiting and now - a.start > LATE_AFTER else 0
    )
    return Arrival(
        appointment=a,
        late_minutes=late,
        can_check_in=books and waiting,
        can_undo=books and a.status == AppointmentStatus.CHECKED_IN and a.pk not in sessions,
        # Someone who arrived is not a no-show: undo the check-in first if it was a slip.
        can_no_show=books and waiting and now >= a.start,
        can_start=actor.may("session.chart")
        and a.kind == AppointmentKind.TREATMENT
        and a.status == AppointmentStatus.CHECKED_IN,
    )


def _todays(actor: Actor, day: date, staff: Any = None) -> list[Appointment]:
    start, end = services.day_window(actor.clinic, day)
    found = (
        Appointment.objects.for_clinic(actor.clinic)
        .overlapping(start, end)
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("patient", "room", "staff__user", "course")
        .order_by("start", "pk")
    )
    if staff is not None:
        found = found.filter(staff=staff)
    return list(found)


def _today_context(actor: Actor) -> dict[str, Any]:
    now = timezone.now()
    day = actor.clinic.today()
    appointments = _todays(actor, day)
    sessions = hooks.with_sessions([a.pk for a in appointments])
    rows = [_arrival(actor, a, now, sessions) for a in appointments]
    counts = {
        "due": sum(1 for r in rows if r.appointment.status == "booked"),
        "late": sum(1 for r in rows if r.late_minutes),
        "arrived": sum(1 for r in rows if r.appointment.status in ("checked_in", "in_progress")),
        "done": sum(1 for r in rows if r.appointment.status == "completed"),
        "no_show": sum(1 for r in rows if r.appointment.status == "no_show"),
    }
    record(
        actor,
        "view",
        object_type="scheduling.appointment",
        detail={"view": "today", "appointments": [a.pk for a in appointments]},
    )
    return {"rows": rows, "day": day, "now": now, "counts": counts}


@require("schedule.view")
def today(request: ClinicRequest) -> HttpResponse:
    """Today's arrivals in time order, with check-in, no-show and undo."""
    actor = request.actor
    context = _today_context(actor)
    if request.htmx:
        return render(request, "scheduling/today.html#arrivals", context)
    return render(request, "scheduling/today.html", context)


DESK_STATUSES = {
    "checked_in": "Checked in",
    "booked": "Check-in undone",
    "no_show": "Marked as a no-show",
}


@require_POST
@require("schedule.book")
def today_status(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    """Check in, undo a check-in, or mark a no-show (only today's: the service refuses others)."""
    actor = request.actor
    appointment = get_appointment_for(actor, appointment_id, "schedule.book")
    status = request.POST.get("status", "")
    error = ""
    if status not in DESK_STATUSES:
        error = "Choose check in, undo or no-show."
    else:
        try:
            services.update_appointment(actor=actor, appointment=appointment, status=status)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if request.htmx:
        context = _today_context(actor)
        context["row_error"] = {appointment.pk: error} if error else {}
        return render(request, "scheduling/today.html#arrivals", context)
    if error:
        messages.error(request, f"{appointment.patient.display_name}: {error}")
    else:
        messages.success(request, f"{appointment.patient.display_name}: {DESK_STATUSES[status]}.")
    return redirect("schedule_today")


# --- where clinicians start their day ----------------------------------------------------


@require("clinical.view")
def my_day(request: ClinicRequest) -> HttpResponse:
    """A clinician's own appointments today, and (for a physician) the open alerts."""
    actor = request.actor
    now = timezone.now()
    day = actor.clinic.today()
    appointments = _todays(actor, day, staff=actor.membership)
    record(
        actor,
        "view",
        object_type="scheduling.appointment",
        detail={"view": "my_day", "appointments": [a.pk for a in appointments]},
    )
    alerts: list[Any] = []
    more_alerts = False
    if actor.may("alerts.resolve"):
        found = list(measures_services.alerts_for(actor=actor)[:11])
        alerts, more_alerts = found[:10], len(found) > 10
        measures_services.view_alerts(actor=actor, alerts=alerts, what="my_day")
    return render(
        request,
        "scheduling/my_day.html",
        {
            "appointments": appointments,
            "day": day,
            "now": now,
            "alerts": alerts,
            "more_alerts": more_alerts,
        },
    )


@require("clinical.view")
def caseload(request: ClinicRequest) -> HttpResponse:
    """A therapist's patients: those with upcoming appointments with them, next one first."""
    actor = request.actor
    now = timezone.now()
    upcoming = (
        Appointment.objects.for_clinic(actor.clinic)
        .filter(staff=actor.membership, end__gte=now, status__in=["booked", "checked_in"])
        .values("patient")
        .annotate(next_start=Min("start"))
        .order_by("next_start")[:100]
    )
    firsts = {row["patient"]: row["next_start"] for row in upcoming}
    nexts = {
        a.patient_id: a
        for a in Appointment.objects.for_clinic(actor.clinic)
        .filter(staff=actor.membership, status__in=["booked", "checked_in"])
        .filter(start__in=list(firsts.values()), patient_id__in=list(firsts))
        .select_related("patient", "room")
    }
    rows = [nexts[p] for p in firsts if p in nexts]
    record(
        actor,
        "view",
        object_type="scheduling.appointment",
        detail={"view": "caseload", "appointments": [a.pk for a in rows]},
    )
    return render(
        request,
        "scheduling/caseload.html",
        {"rows": rows, "therapy_kinds": THERAPY_KINDS, "now": now},
    )
