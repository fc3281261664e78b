"""Billing pages: the review queue, a visit's lines, claims, a patient's account, set-up."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date

from ketaclinic.accounts.access import ClinicRequest, get_for, require
from ketaclinic.accounts.errors import StaleVersion
from ketaclinic.audit.services import record
from ketaclinic.billing import forms, pdf, remittance, services, x12
from ketaclinic.billing.models import (
    CLAIM_NEXT,
    BillingProfile,
    Charge,
    ChargeStatus,
    Claim,
    Coverage,
    Fee,
    Payer,
    Payment,
    ProviderNumber,
)
from ketaclinic.patients.access import get_patient_for
from ketaclinic.scheduling.models import Appointment


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(" ".join(v) for v in exc.message_dict.values())
    return " ".join(exc.messages)


def _edit_values(line: Charge) -> dict[str, Any]:
    """The line's edit form as stored (what the biller starts from)."""
    return {
        "code": line.code,
        "modifiers": ",".join(line.modifiers),
        "units": line.units.normalize(),
        "ndc": line.ndc,
        "ndc_quantity": "" if line.ndc_quantity is None else line.ndc_quantity.normalize(),
        "diagnosis_pointers": ",".join(str(p) for p in line.diagnosis_pointers),
        "reason": "",
        "version": line.version,
    }


@require("billing.view")
def billing_home(request: ClinicRequest) -> HttpResponse:
    """Visits with lines to review, claims in progress, and the way to each account."""
    actor = request.actor
    proposed = (
        Charge.objects.for_clinic(actor.clinic)
        .filter(status__in=[ChargeStatus.PROPOSED, ChargeStatus.HELD])
        .select_related("patient", "appointment")
        .order_by("-service_date", "appointment_id", "position")
    )
    visits: dict[int, dict[str, Any]] = {}
    for charge in proposed[:400]:
        entry = visits.setdefault(
            charge.appointment_id,
            {
                "appointment": charge.appointment,
                "patient": charge.patient,
                "codes": [],
                "date": charge.service_date,
            },
        )
        entry["codes"].append(charge.code)
    claims = list(
        Claim.objects.for_clinic(actor.clinic)
        .exclude(status__in=["paid", "denied"])
        .select_related("patient", "coverage__payer")[:50]
    )
    record(
        actor,
        "billing_view",
        detail={
            "what": "billing_home",
            "patients": sorted({v["patient"].pk for v in visits.values()}),
        },
    )
    return render(
        request,
        "billing/home.html",
        {
            "visits": list(visits.values())[:100],
            "claims": claims,
            "has_profile": BillingProfile.objects.filter(clinic=actor.clinic).exists(),
        },
    )


@require("billing.view")
def billing_visit(request: ClinicRequest, appointment_id: int) -> HttpResponse:
    actor = request.actor
    appointment = get_for(
        actor, Appointment, appointment_id, "billing.view", related=("patient",), what="appointment"
    )
    status = 200
    edit_form = None
    edited_id, edit_error = None, ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        charge = None
        if action in ("edit", "approve", "void"):
            charge = get_for(
                actor,
                Charge,
                request.POST.get("charge"),
                None,
                what="charge",
                query=Charge.objects.filter(appointment=appointment),
            )
        try:
            if action == "edit" and charge is not None:
                actor.check("billing.review")
                edit_form = forms.EditLineForm(request.POST)
                edited_id = charge.pk
                if edit_form.is_valid():
                    data = dict(edit_form.cleaned_data)
                    reason, version = data.pop("reason"), data.pop("version")
                    services.edit_charge(
                        actor=actor, charge=charge, changes=data, reason=reason, version=version
                    )
                    messages.success(request, f"{data['code'].upper()} changed.")
                    return redirect("billing_visit", appointment.pk)
                raise ValidationError({"form": "Fill in every field of the line, with a reason."})
            if action == "approve" and charge is not None:
                services.approve_charge(actor=actor, charge=charge)
                messages.success(request, f"{charge.code} approved.")
                return redirect("billing_visit", appointment.pk)
            if action == "void" and charge is not None:
                services.void_charge(
                    actor=actor, charge=charge, reason=request.POST.get("reason", "")
                )
                return redirect("billing_visit", appointment.pk)
            if action == "approve_all":
                actor.check("billing.approve")
                with transaction.atomic():
                    for line in services.charges_for_visit(actor.clinic, appointment.pk).filter(
                        status="proposed"
                    ):
                        services.approve_charge(actor=actor, charge=line)
                messages.success(request, "Every line approved.")
                return redirect("billing_visit", appointment.pk)
            if action == "claim":
                ids = [int(i) for i in request.POST.getlist("charges") if i.isdigit()]
                claim = services.create_claim(actor=actor, charge_ids=ids)
                messages.success(request, f"Claim {claim.pk} created as a draft.")
                return redirect("billing_claim", claim.pk)
            if action == "propose":
                actor.check("billing.review")
                made = services.propose_for_appointment(appointment)
                messages.success(request, f"{len(made)} line(s) proposed from the record.")
                return redirect("billing_visit", appointment.pk)
            raise ValidationError({"action": "Choose what to do."})
        except StaleVersion as exc:
            # The form keeps what was typed, now on the line's current version: the
            # biller reads the other change (in the row and its history) and saves again.
            edit_error, status = str(exc), 409
        except ValidationError as exc:
            edit_error, status = _errors(exc), 422
            if edited_id is None:
                messages.error(request, edit_error)
    lines = list(
        services.charges_for_visit(actor.clinic, appointment.pk).prefetch_related(
            "changes__by", "claims"
        )
    )
    # Each line with its edit form's values: as stored, or as typed for the line just refused.
    typed = {k: request.POST.get(k, "") for k in forms.EditLineForm.base_fields}
    rows = [
        (line, {**typed, "version": line.version} if line.pk == edited_id else _edit_values(line))
        for line in lines
    ]
    record(
        actor,
        "billing_view",
        patient_id=appointment.patient_id,
        obj=appointment,
        detail={"what": "charges"},
    )
    return render(
        request,
        "billing/visit.html",
        {
            "appointment": appointment,
            "patient": appointment.patient,
            "lines": lines,
            "rows": rows,
            "diagnoses": lines[0].diagnoses if lines else [],
            "signed": services.is_signed_visit(appointment),
            "billed_elsewhere": not lines and services.before_billing_starts(appointment),
            "claimable": [
                c
                for c in lines
                if c.status == "approved"
                and c.coverage_id
                and not any(cl.status != "denied" for cl in c.claims.all())
            ],
            "edit_form": edit_form,
            "edited_id": edited_id,
            "edit_error": edit_error,
        },
        status=status,
    )


@require("billing.view")
def billing_claim(request: ClinicRequest, claim_id: int) -> HttpResponse:
    actor = request.actor
    claim = get_for(
        actor, Claim, claim_id, "billing.view", related=("coverage__payer", "patient"), what="claim"
    )
    status = 200
    if request.method == "POST":
        try:
            action = request.POST.get("action", "")
            if action == "status":
                services.set_claim_status(
                    actor=actor,
                    claim=claim,
                    status=request.POST.get("status", ""),
                    note=request.POST.get("note", ""),
                    payer_claim_number=request.POST.get("payer_claim_number", ""),
                )
                return redirect("billing_claim", claim.pk)
            if action == "correct":
                new = services.correct_claim(
                    actor=actor, claim=claim, frequency_code=request.POST.get("frequency_code", "")
                )
                messages.success(request, f"Claim {new.pk} created to correct claim {claim.pk}.")
                return redirect("billing_claim", new.pk)
            raise ValidationError({"action": "Choose what to do."})
        except ValidationError as exc:
            messages.error(request, _errors(exc))
            status = 422
    profile = BillingProfile.objects.filter(clinic=actor.clinic).first()
    record(actor, "billing_view", patient_id=claim.patient_id, obj=claim)
    return render(
        request,
        "billing/claim.html",
        {
            "claim": claim,
            "lines": list(claim.charges.order_by("service_date", "position")),
            "problems": x12.problems(profile, [claim]),
            "next": CLAIM_NEXT.get(claim.status, ()),
            "corrections": list(claim.corrections.all()),
        },
        status=status,
    )


@require("billing.claim")
def billing_claim_x12(request: ClinicRequest, claim_id: int) -> HttpResponse:
    actor = request.actor
    claim = get_for(
        actor,
        Claim,
        claim_id,
        "billing.claim",
        related=("coverage__payer", "patient"),
        what="claim",
    )
    profile = BillingProfile.objects.filter(clinic=actor.clinic).first()
    problems = x12.problems(profile, [claim])
    if problems or profile is None:
        messages.error(request, " ".join(problems))
        return redirect("billing_claim", claim.pk)
    record(actor, "claim_export", patient_id=claim.patient_id, obj=claim)
    response = HttpResponse(
        x12.render(profile, [claim], control=claim.pk), content_type="text/plain; charset=ascii"
    )
    response["Content-Disposition"] = f'attachment; filename="claim-{claim.pk}.837"'
    return response


@require("billing.view")
def billing_account(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """A patient's account: coverage, charges, payments, balance; take a payment."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "billing.view")
    status = 200
    payment_form = forms.PaymentForm(clinic=actor.clinic, prefix="pay")
    coverage_form = forms.CoverageForm(
        clinic=actor.clinic,
        prefix="cov",
        initial={
            "subscriber_given_name": patient.given_name,
            "subscriber_family_name": patient.family_name,
            "subscriber_birth_date": patient.birth_date,
            "relationship": "18",
            "priority": 1,
        },
    )
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "payment":
            actor.check("billing.payment")
            payment_form = forms.PaymentForm(request.POST, clinic=actor.clinic, prefix="pay")
            if payment_form.is_valid():
                data = payment_form.cleaned_data
                try:
                    services.record_payment(
                        actor=actor,
                        patient=patient,
                        amount=data["amount"],
                        source=data["source"],
                        payer=data["payer"],
                        method=data["method"],
                        reference=data["reference"],
                        received_on=data["received_on"],
                    )
                    messages.success(request, f"Payment of ${data['amount']:,.2f} recorded.")
                    return redirect("billing_account", patient.pk)
                except ValidationError as exc:
                    payment_form.add_error(None, _errors(exc))
            status = 422
        elif action == "coverage":
            actor.check("billing.setup")
            coverage_form = forms.CoverageForm(request.POST, clinic=actor.clinic, prefix="cov")
            if coverage_form.is_valid():
                coverage = coverage_form.save(commit=False)
                coverage.clinic = actor.clinic
                coverage.patient = patient
                coverage.save()
                record(actor, "billing_setup", patient_id=patient.pk, obj=coverage)
                messages.success(request, "Coverage added.")
                return redirect("billing_account", patient.pk)
            status = 422
        else:
            status = 422
            messages.error(request, "Choose what to do.")
    charges = list(
        Charge.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .exclude(status="void")
        .order_by("-service_date", "position")[:200]
    )
    payments = list(
        Payment.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("payer")[:100]
    )
    coverages = list(
        Coverage.objects.for_clinic(actor.clinic).filter(patient=patient).select_related("payer")
    )
    record(actor, "billing_view", patient_id=patient.pk, obj=patient, detail={"what": "account"})
    return render(
        request,
        "billing/account.html",
        {
            "patient": patient,
            "charges": charges,
            "payments": payments,
            "coverages": coverages,
            "balance": services.balance_of(actor.clinic, patient.pk),
            "payment_form": payment_form,
            "coverage_form": coverage_form,
        },
        status=status,
    )


def _day(raw: str | None) -> date | None:
    try:
        return parse_date(raw or "")
    except ValueError:
        return None


@require("billing.superbill")
def billing_superbill(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "billing.superbill")
    start, end = _day(request.GET.get("from")), _day(request.GET.get("to"))
    record(
        actor,
        "download",
        patient_id=patient.pk,
        obj=patient,
        detail={"format": "pdf", "what": "superbill"},
    )
    response = HttpResponse(pdf.superbill_pdf(patient, start, end), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="superbill-{patient.pk}.pdf"'
    return response


@require("billing.superbill")
def billing_statement(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "billing.superbill")
    record(
        actor,
        "download",
        patient_id=patient.pk,
        obj=patient,
        detail={"format": "pdf", "what": "statement"},
    )
    response = HttpResponse(pdf.statement_pdf(patient), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="statement-{patient.pk}.pdf"'
    return response


@require("billing.view")
def billing_aging(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    rows = services.aging(actor.clinic)
    record(
        actor,
        "billing_view",
        detail={"what": "aging", "patients": sorted(r["patient"].pk for r in rows)},
    )
    return render(
        request,
        "billing/aging.html",
        {
            "rows": rows,
            "buckets": [b[2] for b in services.AGING_BUCKETS],
            "today": actor.clinic.today(),
        },
    )


@require("billing.claim")
def billing_remittance(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = forms.RemittanceForm(request.POST or None, request.FILES or None)
    status = 200
    result = None
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > remittance.MAX_BYTES:
                    raise ValidationError({"file": "The file is larger than 2 MB."})
                text = upload.read().decode("ascii")
                result = remittance.post(actor=actor, text=text)
                messages.success(request, f"{len(result.posted)} claim(s) posted.")
            except UnicodeDecodeError:
                form.add_error("file", "An 835 file is plain ASCII text.")
                status = 422
            except ValidationError as exc:
                form.add_error("file", _errors(exc))
                status = 422
        else:
            status = 422
    return render(
        request, "billing/remittance.html", {"form": form, "result": result}, status=status
    )


@require("billing.setup")
def billing_setup(request: ClinicRequest) -> HttpResponse:
    """The clinic's billing profile, payers, fee schedule and provider NPIs."""
    actor = request.actor
    clinic = actor.clinic
    profile = BillingProfile.objects.filter(clinic=clinic).first()
    profile_form = forms.ProfileForm(instance=profile, prefix="profile", clinic=clinic)
    payer_form = forms.PayerForm(prefix="payer")
    fee_form = forms.FeeForm(prefix="fee", initial={"effective_from": actor.clinic.today()})
    provider_form = forms.ProviderForm(prefix="provider", clinic=clinic)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        saved = None
        if action == "profile":
            profile_form = forms.ProfileForm(
                request.POST, instance=profile, prefix="profile", clinic=clinic
            )
            if profile_form.is_valid():
                saved = profile_form.save(commit=False)
                saved.clinic = clinic
        elif action == "payer":
            payer_form = forms.PayerForm(request.POST, prefix="payer")
            if payer_form.is_valid():
                if Payer.objects.filter(
                    clinic=clinic, payer_id=payer_form.cleaned_data["payer_id"]
                ).exists():
                    payer_form.add_error("payer_id", "This payer id is already set up.")
                else:
                    saved = payer_form.save(commit=False)
                    saved.clinic = clinic
                    saved.esketamine_companion_codes = payer_form.cleaned_data["companion"]
        elif action == "fee":
            fee_form = forms.FeeForm(request.POST, prefix="fee")
            if fee_form.is_valid():
                saved = fee_form.save(commit=False)
                saved.clinic = clinic
        elif action == "provider":
            provider_form = forms.ProviderForm(request.POST, prefix="provider", clinic=clinic)
            if provider_form.is_valid():
                membership = provider_form.cleaned_data["membership"]
                saved = ProviderNumber.objects.filter(
                    membership=membership
                ).first() or ProviderNumber(clinic=clinic, membership=membership)
                saved.npi = provider_form.cleaned_data["npi"]
                saved.taxonomy = provider_form.cleaned_data["taxonomy"]
        if saved is not None:
            saved.save()
            record(actor, "billing_setup", obj=saved, detail={"what": action})
            messages.success(request, "Saved.")
            return redirect("billing_setup")
        status = 422
    return render(
        request,
        "billing/setup.html",
        {
            "profile_form": profile_form,
            "payer_form": payer_form,
            "fee_form": fee_form,
            "provider_form": provider_form,
            "payers": list(Payer.objects.for_clinic(clinic)),
            "fees": list(Fee.objects.for_clinic(clinic)[:300]),
            "providers": list(
                ProviderNumber.objects.for_clinic(clinic).select_related("membership__user")
            ),
        },
        status=status,
    )
