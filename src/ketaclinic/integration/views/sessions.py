"""A therapy session's format (in person or video) and group circles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.form_errors import add_errors
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.services import record
from ketaclinic.integration import circles
from ketaclinic.integration.forms import (
    AddSeatForm,
    CancelForm,
    CircleForm,
    SessionFormatForm,
)
from ketaclinic.integration.models import (
    Attendance,
    CircleStatus,
    SessionDetail,
)
from ketaclinic.integration.sessions import set_format
from ketaclinic.integration.views.common import LIST
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import THERAPY_KINDS, Appointment, Room, RoomKind


@require("integration.circle")
def session_format(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    """In person or video (with its meeting link) for one preparation/integration session."""
    actor = request.actor
    appointment = (
        Appointment.objects.for_clinic(actor.clinic)
        .filter(pk=appointment_id, kind__in=THERAPY_KINDS)
        .select_related("patient")
        .first()
    )
    if appointment is None:
        raise Http404("No such session.")
    detail = SessionDetail.objects.filter(appointment=appointment).first()
    form = SessionFormatForm(
        request.POST if request.method == "POST" else None,
        initial={
            "mode": detail.mode if detail else "in_person",
            "meeting_url": detail.meeting_url if detail else "",
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                set_format(actor=actor, appointment=appointment, **form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, "Session format saved.")
                return redirect("integration_patient", appointment.patient_id)
        status = 422
    return render(
        request,
        "integration/session_format.html",
        {"appointment": appointment, "patient": appointment.patient, "form": form},
        status=status,
    )


def _circle_form_choices(actor: Any) -> dict[str, Any]:
    return {
        "therapists": list(
            Membership.objects.filter(
                clinic=actor.clinic, role__in=["therapist", "physician"], is_active=True
            )
            .select_related("user")
            .order_by("role", "user__last_name")
        ),
        "rooms": list(
            Room.objects.for_clinic(actor.clinic)
            .filter(active=True, kind__in=[RoomKind.THERAPY_ROOM, RoomKind.CONSULT_ROOM])
            .order_by("-kind", "position", "name")
        ),
        "patients": list(
            Patient.objects.for_clinic(actor.clinic).order_by("family_name", "given_name")[:200]
        ),
    }


@require("schedule.view")
def circle_list(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    now = timezone.now()
    rows = list(
        circles.circles_for(actor.clinic)
        .filter(end__gte=now - timedelta(days=30))
        .order_by("start")[:LIST]
    )
    form = None
    status = 200
    if actor.may("integration.circle"):
        choices = _circle_form_choices(actor)
        initial = {"therapist": actor.membership.pk} if actor.role == "therapist" else {}
        form = CircleForm(
            request.POST if request.method == "POST" else None, initial=initial, **choices
        )
        if request.method == "POST":
            if form.is_valid():
                data = form.cleaned_data
                therapist = next(m for m in choices["therapists"] if m.pk == data["therapist"])
                room = next(r for r in choices["rooms"] if r.pk == data["room"])
                chosen = [p for p in choices["patients"] if p.pk in set(data["patients"])]
                try:
                    circle = circles.create_circle(
                        actor=actor,
                        title=data["title"],
                        therapist=therapist,
                        room=room,
                        start=data["start"],
                        minutes=data["minutes"],
                        capacity=data["capacity"],
                        mode=data["mode"],
                        meeting_url=data["meeting_url"],
                        patients=chosen,
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, "Circle booked.")
                    return redirect("integration_circle", circle.pk)
            status = 422
    elif request.method == "POST":
        return HttpResponseNotAllowed(["GET"])
    record(actor, "view", detail={"what": "integration_circles", "circles": [c.pk for c in rows]})
    return render(request, "integration/circles.html", {"rows": rows, "form": form}, status=status)


@require("schedule.view")
def circle_detail(request: ClinicRequest, circle_id: int) -> HttpResponse:
    actor = request.actor
    circle = circles.get_circle_for(actor, circle_id, "schedule.view")
    seats = list(circle.seats.select_related("patient"))
    seated = {s.patient_id for s in seats}
    add_form = None
    if actor.may("integration.circle") and circle.status == CircleStatus.BOOKED:
        others = [
            p
            for p in Patient.objects.for_clinic(actor.clinic).order_by("family_name", "given_name")[
                :200
            ]
            if p.pk not in seated
        ]
        add_form = AddSeatForm(
            request.POST if request.POST.get("action") == "add" else None, patients=others
        )
    cancel_form = (
        CancelForm(request.POST if request.POST.get("action") == "cancel" else None)
        if actor.may("integration.circle") and circle.status == CircleStatus.BOOKED
        else None
    )
    status = 200
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        actor.check("integration.attend" if action == "attendance" else "integration.circle")
        try:
            if action == "attendance":
                actor.check("integration.attend")
                marks = {}
                for seat in seats:
                    value = request.POST.get(f"seat-{seat.patient_id}")
                    if value:
                        marks[seat.patient_id] = value
                circles.mark_attendance(actor=actor, circle=circle, marks=marks)
                messages.success(request, "Attendance saved.")
                return redirect("integration_circle", circle.pk)
            if action == "add" and add_form is not None:
                if add_form.is_valid():
                    patient = get_patient_for(
                        actor, add_form.cleaned_data["patient"], "integration.circle"
                    )
                    circles.add_to_circle(actor=actor, circle=circle, patient=patient)
                    messages.success(request, "Patient added.")
                    return redirect("integration_circle", circle.pk)
            elif action == "cancel" and cancel_form is not None:
                if cancel_form.is_valid():
                    circles.cancel_circle(
                        actor=actor, circle=circle, reason=cancel_form.cleaned_data["reason"]
                    )
                    messages.success(request, "Circle cancelled.")
                    return redirect("integration_circle", circle.pk)
            elif action not in ("add", "cancel"):
                raise PermissionDenied("You may not change this circle.")
        except ValidationError as exc:
            error = " ".join(exc.messages)
        status = 422
    record(actor, "view", obj=circle, detail={"patients": sorted(seated)})
    return render(
        request,
        "integration/circle.html",
        {
            "circle": circle,
            "seats": seats,
            "attendance": Attendance.choices,
            "error": error,
            "add_form": add_form,
            "cancel_form": cancel_form,
            "may_attend": actor.may("integration.attend")
            and circle.status != CircleStatus.CANCELLED
            and circle.start <= timezone.now(),
        },
        status=status,
    )
