"""The patient's appointments: home, the list, change requests, the .ics file, check-in."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.integration.models import Homework
from ketaclinic.portal import services
from ketaclinic.portal.access import PortalRequest, own, portal_page
from ketaclinic.portal.models import AppointmentRequest, Thread
from ketaclinic.portal.views.common import PAST_LIMIT, errors_of
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.patient_checkin import PatientCheckin


def _appointments(request: PortalRequest) -> Any:
    return Appointment.objects.filter(
        clinic_id=request.account.clinic_id, patient_id=request.account.patient_id
    ).select_related("room", "clinic")


def _instructions(appointment: Appointment) -> list[str]:
    if appointment.kind == "treatment":
        return [
            "Do not eat for 2 hours and do not drink for 30 minutes before your session.",
            "Arrange a ride home with an adult: you may not drive until the next day.",
            "Tell us about any new medicines, and any benzodiazepine taken in the last 12 hours.",
        ]
    return []


@portal_page
def home(request: PortalRequest) -> HttpResponse:
    account, now = request.account, timezone.now()
    upcoming = (
        _appointments(request)
        .filter(end__gt=now, status__in=("booked", "checked_in"))
        .order_by("start")
        .first()
    )
    due = services.due_links(account)
    homework = list(
        Homework.objects.filter(
            clinic_id=account.clinic_id, patient_id=account.patient_id, done_at__isnull=True
        )[:5]
    )
    unread = Thread.objects.filter(
        clinic_id=account.clinic_id, patient_id=account.patient_id, unread_by_patient=True
    ).count()
    services.audit_read(request.actor, account, "home")
    return render(
        request,
        "portal/home.html",
        {
            "next": upcoming,
            "next_instructions": _instructions(upcoming) if upcoming else [],
            "checkin_open": bool(upcoming and services.is_checkin_day(upcoming, now)),
            "due": due,
            "homework": homework,
            "unread": unread,
            "nav": "home",
        },
    )


@portal_page
def appointments(request: PortalRequest) -> HttpResponse:
    now = timezone.now()
    rows = list(_appointments(request).filter(end__gt=now).exclude(status="cancelled"))
    past = list(_appointments(request).filter(end__lte=now).order_by("-start")[:PAST_LIMIT])
    pending = set(
        AppointmentRequest.objects.filter(
            patient_id=request.account.patient_id, handled_at__isnull=True
        ).values_list("appointment_id", flat=True)
    )
    for a in rows + past:
        a.patient_status = services.patient_status(a, now)
        a.may_change = services.may_change(a, now)
        a.requested = a.pk in pending
        a.checkin_open = services.is_checkin_day(a, now)
    services.audit_read(request.actor, request.account, "appointments")
    return render(
        request,
        "portal/appointments.html",
        {
            "upcoming": rows,
            "past": past,
            "late_hours": services.late_cancel_hours(),
            "nav": "appointments",
        },
    )


@require_POST
@portal_page
def appointment_change(request: PortalRequest, appointment_id: int) -> HttpResponse:
    appointment = own(request.account, _appointments(request), appointment_id, "appointment")
    try:
        services.request_change(
            actor=request.actor,
            account=request.account,
            appointment=appointment,
            kind=request.POST.get("kind", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        flash.error(request, " ".join(errors_of(exc).values()))
    else:
        flash.success(request, "Your request was sent. The clinic will confirm with you.")
    return redirect("portal_appointments")


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


@portal_page
def appointment_ics(request: PortalRequest, appointment_id: int) -> HttpResponse:
    appointment = own(request.account, _appointments(request), appointment_id, "appointment")
    clinic = request.account.clinic
    stamp = "%Y%m%dT%H%M%SZ"
    body = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//ketaclinic//portal//EN",
            "BEGIN:VEVENT",
            f"UID:portal-appointment-{appointment.pk}@ketaclinic",
            f"DTSTAMP:{timezone.now().astimezone(UTC):{stamp}}",
            f"DTSTART:{appointment.start.astimezone(UTC):{stamp}}",
            f"DTEND:{appointment.end.astimezone(UTC):{stamp}}",
            f"SUMMARY:{_ics_text('Appointment at ' + clinic.name)}",
            f"LOCATION:{_ics_text(clinic.address.replace(chr(10), ', '))}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    services.audit_read(request.actor, request.account, "appointment_ics")
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="appointment-{appointment.pk}.ics"'
    return response


@portal_page
def checkin(request: PortalRequest, appointment_id: int) -> HttpResponse:
    appointment = own(request.account, _appointments(request), appointment_id, "appointment")
    existing = PatientCheckin.objects.filter(appointment=appointment).first()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "")
            for k in (
                "escort_name",
                "escort_phone",
                "last_food_at",
                "last_liquids_at",
                "benzodiazepine_last_12h",
                "new_medicines",
            )
        }
        try:
            services.check_in(
                actor=request.actor, account=request.account, appointment=appointment, data=values
            )
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            flash.success(request, "Thank you: you are checked in. A nurse will confirm with you.")
            return redirect("portal_home")
    elif existing is not None:
        tz = request.account.clinic.tz
        values = {
            "escort_name": existing.escort_name,
            "escort_phone": existing.escort_phone,
            "last_food_at": f"{timezone.localtime(existing.last_food_at, tz):%H:%M}"
            if existing.last_food_at
            else "",
            "last_liquids_at": f"{timezone.localtime(existing.last_liquids_at, tz):%H:%M}"
            if existing.last_liquids_at
            else "",
            "benzodiazepine_last_12h": "yes" if existing.benzodiazepine_last_12h else "no",
            "new_medicines": existing.new_medicines,
        }
    services.audit_read(request.actor, request.account, "checkin")
    return render(
        request,
        "portal/checkin.html",
        {
            "appointment": appointment,
            "open": services.is_checkin_day(appointment, timezone.now()),
            "existing": existing,
            "values": values,
            "errors": errors,
            "nav": "appointments",
        },
        status=422 if errors else 200,
    )
