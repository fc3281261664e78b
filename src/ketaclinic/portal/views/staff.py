"""The staff pages the portal needs: the invitation and summary releases from the chart, the inbox,
requests."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, get_for, require
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record
from ketaclinic.patients.access import get_patient_for
from ketaclinic.portal import services, summaries
from ketaclinic.portal.models import AppointmentRequest, Thread
from ketaclinic.portal.views.common import LIST, errors_of
from ketaclinic.treatment.access import get_session_for
from ketaclinic.treatment.models import TreatmentSession


@require_POST
@require("portal.invite")
def staff_invite(request: ClinicRequest, patient_id: int) -> HttpResponse:
    patient = get_patient_for(request.actor, patient_id, "portal.invite")
    try:
        invitation = services.invite(actor=request.actor, patient=patient)
    except ValidationError as exc:
        flash.error(request, " ".join(errors_of(exc).values()))
    else:
        local = timezone.localtime(invitation.expires_at, request.actor.clinic.tz)
        flash.success(
            request,
            f"Portal invitation e-mailed to {invitation.username}; the link works until "
            f"{local:%d %b %H:%M}.",
        )
    return redirect("patient_chart", patient.pk)


def _staff_thread(request: ClinicRequest, thread_id: int, action: str) -> Thread:
    return get_for(request.actor, Thread, thread_id, action, related=("patient",), what="thread")


@require("messages.view")
def inbox(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    show = request.GET.get("show", "open")
    rows = Thread.objects.filter(clinic=actor.clinic).select_related("patient", "assigned_to__user")
    rows = (
        rows.filter(done_at__isnull=True) if show != "done" else rows.filter(done_at__isnull=False)
    )
    threads = list(rows[:LIST])
    record(actor, "view", detail={"what": "message_inbox", "count": len(threads)})
    pending = list(
        AppointmentRequest.objects.filter(
            clinic=actor.clinic, handled_at__isnull=True
        ).select_related("patient", "appointment")[:LIST]
    )
    return render(
        request,
        "portal/inbox.html",
        {"threads": threads, "show": show, "requests": pending},
    )


@require("messages.view")
def staff_thread(request: ClinicRequest, thread_id: int) -> HttpResponse:
    actor = request.actor
    found = _staff_thread(request, thread_id, "messages.view")
    get_patient_for(actor, found.patient_id, "messages.view")  # restricted charts stay closed
    errors: dict[str, str] = {}
    body = ""
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            services.reply(actor=actor, thread=found, body=body)
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            return redirect("staff_thread", found.pk)
    rows = services.read_thread(actor=actor, thread=found)
    staff = (
        Membership.objects.active()
        .filter(clinic=actor.clinic)
        .exclude(role=Role.PATIENT)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )
    return render(
        request,
        "portal/staff_thread.html",
        {"thread": found, "rows": rows, "errors": errors, "body": body, "staff": staff},
        status=422 if errors else 200,
    )


@require_POST
@require("messages.record")
def staff_thread_assign(request: ClinicRequest, thread_id: int) -> HttpResponse:
    actor = request.actor
    found = _staff_thread(request, thread_id, "messages.record")
    chosen = request.POST.get("assignee", "")
    membership = None
    if chosen:
        membership = (
            Membership.objects.filter(clinic=actor.clinic, is_active=True)
            .exclude(role=Role.PATIENT)
            .filter(pk=int(chosen) if chosen.isdigit() else 0)
            .first()
        )
        if membership is None:
            flash.error(request, "Choose a member of this clinic's staff.")
            return redirect("staff_thread", found.pk)
    services.assign_thread(actor=actor, thread=found, membership=membership)
    return redirect("staff_thread", found.pk)


@require_POST
@require("messages.record")
def staff_thread_done(request: ClinicRequest, thread_id: int) -> HttpResponse:
    found = _staff_thread(request, thread_id, "messages.record")
    services.mark_done(actor=request.actor, thread=found)
    flash.success(request, "Marked done.")
    return redirect("message_inbox")


@require_POST
@require("schedule.book")
def request_handled(request: ClinicRequest, request_id: int) -> HttpResponse:
    found = get_for(request.actor, AppointmentRequest, request_id, "schedule.book", what="request")
    services.handle_request(actor=request.actor, request=found)
    return redirect("message_inbox")


def _summary_session(request: ClinicRequest, session_id: int) -> TreatmentSession:
    # The chart's own guard: another clinic's or a missing id is 404, a restricted chart stays closed.
    return get_session_for(request.actor, session_id, "session.chart")


@require_POST
@require("session.chart")
def summary_release(request: ClinicRequest, session_id: int) -> HttpResponse:
    session = _summary_session(request, session_id)
    try:
        summaries.release(actor=request.actor, session=session)
    except ValidationError as exc:
        flash.error(request, " ".join(errors_of(exc).values()))
    else:
        flash.success(request, "The session summary is in the patient's portal documents.")
    return redirect("patient_chart", session.patient_id)


@require_POST
@require("session.chart")
def summary_withdraw(request: ClinicRequest, session_id: int) -> HttpResponse:
    session = _summary_session(request, session_id)
    summaries.withdraw(actor=request.actor, session=session)
    flash.success(request, "The session summary is no longer in the patient's portal.")
    return redirect("patient_chart", session.patient_id)
