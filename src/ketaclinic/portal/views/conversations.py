"""The patient's secure messages with the care team."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.portal import services
from ketaclinic.portal.access import PortalRequest, own, portal_page
from ketaclinic.portal.models import Thread
from ketaclinic.portal.views.common import LIST, errors_of


@portal_page
def messages(request: PortalRequest) -> HttpResponse:
    account = request.account
    errors: dict[str, str] = {}
    values = {"subject": "", "body": ""}
    if request.method == "POST":
        values = {"subject": request.POST.get("subject", ""), "body": request.POST.get("body", "")}
        try:
            thread = services.start_thread(actor=request.actor, account=account, **values)
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            flash.success(request, "Message sent to your care team.")
            return redirect("portal_thread", thread.pk)
    threads = list(
        Thread.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)[:LIST]
    )
    services.audit_read(request.actor, account, "messages")
    return render(
        request,
        "portal/messages.html",
        {"threads": threads, "errors": errors, "values": values, "nav": "messages"},
        status=422 if errors else 200,
    )


@portal_page
def thread(request: PortalRequest, thread_id: int) -> HttpResponse:
    found = own(request.account, Thread.objects.all(), thread_id, "conversation")
    errors: dict[str, str] = {}
    body = ""
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            services.reply(actor=request.actor, thread=found, body=body)
        except ValidationError as exc:
            errors = errors_of(exc)
        else:
            return redirect("portal_thread", found.pk)
    rows = services.read_thread(actor=request.actor, thread=found)
    return render(
        request,
        "portal/thread.html",
        {"thread": found, "rows": rows, "errors": errors, "body": body, "nav": "messages"},
        status=422 if errors else 200,
    )
