"""Ledger reports: the page and the download."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.inventory import forms, reports, services
from ketaclinic.inventory.views import _banner_context


@require("ledger.report")
def reports_page(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    config = services.settings_for(actor.clinic)
    settings_form = forms.SettingsForm(request.POST or None, instance=config)
    if request.method == "POST" and settings_form.is_valid():
        try:
            services.update_settings(
                actor=actor, interval_months=settings_form.cleaned_data["inventory_interval_months"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Inventory interval saved.")
            return redirect("inventory_reports")
    return render(
        request,
        "inventory/reports.html",
        {
            "form": forms.ReportForm(clinic=actor.clinic),
            "settings_form": settings_form,
            "expiring": services.expiring_lots(actor.clinic, actor.clinic.today()),
            **_banner_context(actor),
        },
    )


@require("ledger.report")
def report_download(request: ClinicRequest) -> HttpResponse:
    """A report as PDF or CSV; every download is audited as an export."""
    actor = request.actor
    form = forms.ReportForm(request.GET or None, clinic=actor.clinic)
    if not form.is_valid():
        return render(
            request,
            "inventory/reports.html",
            {
                "form": form,
                "settings_form": forms.SettingsForm(instance=services.settings_for(actor.clinic)),
                "expiring": [],
                **_banner_context(actor),
            },
            status=422,
        )
    data = form.cleaned_data
    report = reports.build(
        data["report"],
        actor.clinic,
        product=data["product"].pk if data["product"] else None,
        lot=data["lot"].pk if data["lot"] else None,
        start=data["start"],
        end=data["end"],
        today=actor.clinic.today(),
    )
    stamp = timezone.localtime(timezone=actor.clinic.tz).strftime("%Y%m%d-%H%M")
    name = f"{actor.clinic.slug}-{data['report']}-{stamp}.{data['fmt']}"
    if data["fmt"] == "csv":
        body: bytes = reports.write_csv(report).encode()
        content_type = "text/csv; charset=utf-8"
    else:
        body = reports.write_pdf(
            report, actor.clinic, by=actor.user.get_full_name() or actor.user.username
        )
        content_type = "application/pdf"
    record(
        actor,
        "export",
        detail={
            "report": data["report"],
            "format": data["fmt"],
            "from": str(data["start"] or ""),
            "to": str(data["end"] or ""),
            "product": data["product"].pk if data["product"] else None,
            "lot": data["lot"].pk if data["lot"] else None,
        },
    )
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
