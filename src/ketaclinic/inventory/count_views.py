"""Ledger pages for counts and their discrepancies, and loss reports."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.inventory import forms, services, views
from ketaclinic.inventory.access import (
    get_count_line_for,
    get_loss_report_for,
)
from ketaclinic.inventory.models import CountSession, Location, LossReport
from ketaclinic.inventory.views import _banner_context


@require("ledger.view")
def counts(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    sessions = (
        CountSession.objects.for_clinic(actor.clinic)
        .select_related("location", "counted_by")
        .order_by("-counted_at")
    )
    page = Paginator(sessions, views.PAGE_SIZE).get_page(request.GET.get("page"))
    locations = Location.objects.for_clinic(actor.clinic).filter(is_active=True).order_by("name")
    return render(
        request,
        "inventory/counts.html",
        {
            "page": page,
            "locations": locations,
            **_banner_context(actor),
        },
    )


@require("ledger.record")
def count_new(request: ClinicRequest) -> HttpResponse:
    """Count one location: every lot the ledger has on hand there.

    A stray container (a lot the ledger does not have at this location) is recorded
    through the API's count (any lot of the clinic), or by a transfer or adjustment.
    """
    actor = request.actor
    location_id = request.POST.get("location") or request.GET.get("location")
    location = (
        Location.objects.for_clinic(actor.clinic).filter(pk=location_id).first()
        if location_id and str(location_id).isdigit()
        else services.default_location(actor.clinic)
    )
    if location is None:
        raise Http404
    on_hand = [b for b in services.balances(actor.clinic) if b.location.pk == location.pk]
    head = forms.CountHeadForm(
        request.POST or None, initial={"kind": request.GET.get("kind", "count")}
    )
    lines: list[dict[str, Any]] = [
        {
            "balance": b,
            "counted": request.POST.get(f"counted-{b.lot.pk}", ""),
            "sealed": request.POST.get(f"sealed-{b.lot.pk}", ""),
            "estimated": bool(request.POST.get(f"estimated-{b.lot.pk}")),
        }
        for b in on_hand
    ]
    error = ""
    if request.method == "POST" and head.is_valid():
        try:
            parsed = []
            for line in lines:
                if line["counted"] == "":
                    raise ValidationError(f"Enter the count for lot {line['balance'].lot.number}.")
                parsed.append(
                    {
                        "lot": line["balance"].lot,
                        "counted": line["counted"],
                        "estimated": line["estimated"],
                        "sealed_containers": int(line["sealed"])
                        if line["sealed"].isdigit()
                        else None,
                    }
                )
            session = services.record_count(
                actor=actor,
                location=location,
                timing=head.cleaned_data["timing"],
                kind=head.cleaned_data["kind"],
                lines=parsed,
                note=head.cleaned_data["note"],
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, "Count recorded.")
            return redirect("inventory_count", count_id=session.pk)
    return render(
        request,
        "inventory/count_new.html",
        {
            "location": location,
            "lines": lines,
            "head": head,
            "error": error,
        },
    )


@require("ledger.view")
def count_detail(request: ClinicRequest, count_id: int) -> HttpResponse:
    actor = request.actor
    session = (
        CountSession.objects.for_clinic(actor.clinic)
        .select_related("location", "counted_by")
        .filter(pk=count_id)
        .first()
    )
    if session is None:
        raise Http404
    lines = list(session.lines.select_related("lot__product", "resolved_by").order_by("id"))
    return render(
        request,
        "inventory/count.html",
        {
            "session": session,
            "lines": lines,
            "resolve_form": forms.ResolveForm(),
            "open_discrepancies": sum(
                1 for ln in lines if ln.discrepancy and not ln.resolved_by_id
            ),
        },
    )


@require_POST
@require("ledger.record")
def count_resolve(request: ClinicRequest, line_id: int) -> HttpResponse:
    actor = request.actor
    line = get_count_line_for(actor, line_id)
    form = forms.ResolveForm(request.POST)
    if form.is_valid():
        try:
            services.resolve_discrepancy(
                actor=actor, request=request, line=line, **form.cleaned_data
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Discrepancy on lot {line.lot.number} resolved.")
    else:
        messages.error(request, "Choose how to resolve it and give the reason.")
    return redirect("inventory_count", count_id=line.session_id)


@require("ledger.view")
def losses(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    reports_ = (
        LossReport.objects.for_clinic(actor.clinic)
        .select_related("entry__product", "entry__lot")
        .order_by("filed_at", "-discovered_on")
    )
    return render(
        request,
        "inventory/losses.html",
        {
            "reports": reports_,
            "today": actor.clinic.today(),
        },
    )


@require("ledger.view")
def loss_detail(request: ClinicRequest, report_id: int) -> HttpResponse:
    actor = request.actor
    report = get_loss_report_for(actor, report_id)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "notice":
                services.mark_loss_notice_sent(actor=actor, report=report)
                messages.success(request, "Written notice marked as sent.")
            elif request.POST.get("action") == "filed":
                services.mark_loss_filed(
                    actor=actor, report=report, reference=request.POST.get("reference", "")
                )
                messages.success(request, "Form 106 marked as filed.")
            return redirect("inventory_loss", report_id=report.pk)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return render(
        request,
        "inventory/loss.html",
        {
            "report": report,
            "entry": report.entry,
            "today": actor.clinic.today(),
        },
    )
