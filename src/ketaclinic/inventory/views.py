"""Ledger pages: ledger, balances, receive, administer, waste and its witness, counts, losses, reports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.inventory import forms, paging, reports, services
from ketaclinic.inventory.access import (
    get_count_line_for,
    get_entry_for,
    get_loss_report_for,
)
from ketaclinic.inventory.models import CountSession, Kind, Location, LossReport
from ketaclinic.patients.models import Patient

PAGE_SIZE = 50


def _errors(form, exc: ValidationError, extra: dict[str, str] | None = None) -> None:
    """Put a service's errors on the form fields they name (the rest on the form)."""
    aliases = extra or {
        "supplier.name": "supplier_name",
        "supplier.address": "supplier_address",
        "supplier.dea_number": "supplier_dea_number",
        "patient": "patient_mrn",
        "unit": "quantity",
        "delta": "delta",
    }
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            name = aliases.get(field, field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _patient_by_mrn(actor, mrn: str) -> Patient | None:
    mrn = (mrn or "").strip()
    if not mrn:
        return None
    found = Patient.objects.for_clinic(actor.clinic).filter(mrn=mrn).first()
    if found is None:
        raise ValidationError({"patient": "No patient with this MRN in this clinic."})
    return found


def _banner_context(actor) -> dict[str, Any]:
    return {"due": services.inventory_due(actor.clinic, services.clinic_today(actor.clinic))}


@require("ledger.view")
def ledger(request: ClinicRequest) -> HttpResponse:
    """The ledger with running balances, filtered by product, lot and dates."""
    actor = request.actor
    form = forms.LedgerFilterForm(request.GET or None, clinic=actor.clinic)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "product": data["product"].pk if data["product"] else None,
            "lot": data["lot"].pk if data["lot"] else None,
            "start": data["start"],
            "end": data["end"],
        }
    entries = services.ledger_entries(actor.clinic, corrected=False, **filters)
    # Newest first on screen; the running balance is per lot + location, stored in each entry.
    page = paging.newest_first(
        entries,
        before=request.GET.get("before"),
        after=request.GET.get("after"),
        size=PAGE_SIZE,
    )
    paging.mark_corrected(page.object_list)
    patient_ids = sorted({e.patient_id for e in page.object_list if e.patient_id})
    record(actor, "view", detail={"view": "ledger", "patients": patient_ids})
    query = request.GET.copy()
    for key in ("page", "before", "after"):
        query.pop(key, None)
    return render(
        request,
        "inventory/ledger.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "unwitnessed": services.unwitnessed_waste(actor.clinic).count(),
            **_banner_context(actor),
        },
    )


@require("ledger.view")
def balances(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    today = services.clinic_today(actor.clinic)
    rows = services.balances(actor.clinic)
    return render(
        request,
        "inventory/balances.html",
        {
            "rows": rows,
            "today": today,
            "soon": today + timedelta(days=60),
            **_banner_context(actor),
        },
    )


@require("inventory.setup")
def product_new(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = forms.ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.create_product(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"{product.name} added.")
            return redirect("inventory_receive")
    return render(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": "New product",
            "submit": "Add product",
        },
    )


@require("ledger.record")
def receive(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = forms.ReceiveForm(request.POST or None, clinic=actor.clinic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.receive(
                actor=actor,
                product=data["product"],
                lot_number=data["lot"],
                expiry=data["expiry"],
                containers=data["containers"],
                supplier_name=data["supplier_name"],
                supplier_address=data["supplier_address"],
                supplier_dea_number=data["supplier_dea_number"],
                invoice=data["invoice"],
                location=data["location"],
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(
                request,
                f"Received {entry.containers} × {entry.product.name}, lot {entry.lot.number}. "
                f"Balance {entry.balance_after.normalize():f} {entry.product.unit}.",
            )
            return redirect("inventory_balances")
    return render(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": "Receive stock",
            "submit": "Record receipt",
            "aside": "receive",
        },
    )


@require("ledger.record")
def administer(request: ClinicRequest) -> HttpResponse:
    """Record a dose given (until treatment sessions post it themselves)."""
    actor = request.actor
    form = forms.AdministerForm(request.POST or None, clinic=actor.clinic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.post_administration(
                actor=actor,
                lot=data["lot"],
                quantity=data["quantity"],
                unit=data["lot"].product.unit,
                patient=_patient_by_mrn(actor, data["patient_mrn"]),
                session_ref=data["session_ref"],
                given_at=data["given_at"],
                location=data["location"],
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(
                request,
                f"Administration recorded: {entry.quantity.normalize():f} "
                f"{entry.product.unit} ({entry.mg.normalize():f} mg).",
            )
            return redirect("inventory_ledger")
    return render(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": "Record an administration",
            "submit": "Record administration",
        },
    )


@require("ledger.record")
def waste(request: ClinicRequest) -> HttpResponse:
    """Record waste; the witness types their password now, or confirms it later."""
    actor = request.actor
    form = forms.WasteForm(request.POST or None, clinic=actor.clinic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = services.record_waste(
                actor=actor,
                request=request,
                lot=data["lot"],
                quantity=data["quantity"],
                unit=data["lot"].product.unit,
                manner=data["manner"],
                witness=data["witness"],
                witness_password=data["witness_password"],
                witness_code=data["witness_code"],
                patient=_patient_by_mrn(actor, data["patient_mrn"]),
                session_ref=data["session_ref"],
                location=data["location"],
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            if entry.witness_id:
                messages.success(request, "Waste recorded and witnessed.")
                return redirect("inventory_ledger")
            messages.success(request, "Waste recorded: it waits for its witness.")
            return redirect("inventory_unwitnessed")
    return render(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": "Record waste",
            "submit": "Record waste",
            "aside": "witness",
        },
    )


@require("ledger.view")
def unwitnessed(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    entries = list(services.unwitnessed_waste(actor.clinic)[:200])
    record(
        actor,
        "view",
        detail={
            "view": "unwitnessed_waste",
            "patients": sorted({e.patient_id for e in entries if e.patient_id}),
        },
    )
    return render(request, "inventory/unwitnessed.html", {"entries": entries})


@require("ledger.record")
def witness(request: ClinicRequest, entry_id: int) -> HttpResponse:
    """The witness confirms a waste with their own password or code, on this tablet."""
    actor = request.actor
    entry = get_entry_for(actor, entry_id, "ledger.record")
    if entry.kind != Kind.WASTE:
        raise Http404
    initial = {"username": entry.witness_requested.username if entry.witness_requested else ""}
    form = forms.WitnessForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid() and entry.witness_id is None:
        try:
            services.confirm_waste_witness(
                actor=actor, entry=entry, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors(
                form,
                exc,
                {"witness": "username", "witness_password": "password", "witness_code": "code"},
            )
        else:
            messages.success(request, f"Waste #{entry.pk} witnessed.")
            return redirect("inventory_unwitnessed")
    return render(request, "inventory/witness.html", {"entry": entry, "form": form})


@require("ledger.record")
def movement(request: ClinicRequest, kind: str) -> HttpResponse:
    """Destroy, return, adjust, report a loss, or transfer between locations."""
    actor = request.actor
    if kind not in forms.MOVEMENT_FORMS:
        raise Http404
    title, form_class = forms.MOVEMENT_FORMS[kind]
    form = form_class(request.POST or None, clinic=actor.clinic)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            done = _movement(actor, request, kind, data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            if isinstance(done, LossReport):
                messages.success(request, "Loss recorded. Send the DEA notice by the due date.")
                return redirect("inventory_loss", report_id=done.pk)
            messages.success(request, f"{title}: recorded.")
            return redirect("inventory_ledger")
    return render(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": title,
            "submit": "Record",
            "aside": "witness" if kind in ("destroy", "adjust") else "",
        },
    )


def _movement(actor, request, kind: str, data: dict[str, Any]):
    if kind == "destroy":
        return services.destroy(actor=actor, request=request, **data)
    if kind == "return":
        return services.return_stock(actor=actor, **data)
    if kind == "adjust":
        return services.adjust(actor=actor, request=request, **data)
    if kind == "loss":
        return services.record_loss(actor=actor, **data)
    return services.transfer(actor=actor, **data)


@require("ledger.record")
def correct(request: ClinicRequest, entry_id: int) -> HttpResponse:
    """Reverse a mistaken entry by a new, co-signed entry that references it."""
    actor = request.actor
    entry = get_entry_for(actor, entry_id, "ledger.record")
    form = forms.CorrectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            fix = services.correct_entry(
                actor=actor, request=request, entry=entry, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(
                request, f"Entry #{entry.pk} reversed by #{fix.pk}. Now record the right entry."
            )
            return redirect("inventory_ledger")
    return render(request, "inventory/correct.html", {"entry": entry, "form": form})


@require("ledger.view")
def locations(request: ClinicRequest, form: forms.LocationForm | None = None) -> HttpResponse:
    actor = request.actor
    services.default_location(actor.clinic)
    return render(
        request,
        "inventory/locations.html",
        {
            "form": form or forms.LocationForm(),
            "locations": Location.objects.for_clinic(actor.clinic).order_by("name"),
        },
    )


@require_POST
@require("inventory.setup")
def location_add(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = forms.LocationForm(request.POST)
    if form.is_valid():
        try:
            location = services.create_location(actor=actor, name=form.cleaned_data["name"])
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"{location.name} added.")
            return redirect("inventory_locations")
    return locations(request, form=form)


@require("ledger.view")
def counts(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    sessions = (
        CountSession.objects.for_clinic(actor.clinic)
        .select_related("location", "counted_by")
        .order_by("-counted_at")
    )
    page = Paginator(sessions, PAGE_SIZE).get_page(request.GET.get("page"))
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
    lines = [
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
            "today": services.clinic_today(actor.clinic),
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
            "today": services.clinic_today(actor.clinic),
        },
    )


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
            "expiring": services.expiring_lots(actor.clinic, services.clinic_today(actor.clinic)),
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
        today=services.clinic_today(actor.clinic),
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
