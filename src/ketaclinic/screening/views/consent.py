"""Consent signed in the clinic (witnessed), its record, PDF, withdrawal and co-signature."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.services import view_patient
from ketaclinic.screening import services
from ketaclinic.screening.consent import to_html
from ketaclinic.screening.forms import (
    ConsentSignForm,
    WithdrawForm,
)


def shown_version(request: HttpRequest) -> int | None:
    """The template version the signing page showed (posted back with the signature)."""
    raw = request.POST.get("template_version", "")
    return int(raw) if raw.isdigit() and len(raw) < 9 else None


def consent_template_or_404(family: str, clinic: Any):
    from ketaclinic.screening.clinic_consent import templates_for

    template = templates_for(clinic).get(family)
    if template is None:
        raise Http404("No such consent template.")
    return template


@require("consent.record")
def consent_sign(request: ClinicRequest, patient_id: int, family: str) -> HttpResponse:
    """Tablet signing, witnessed by the logged-in staff member."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "consent.record")
    template = consent_template_or_404(family, actor.clinic)
    form = ConsentSignForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            consent = services.sign_consent(
                actor=actor,
                patient=patient,
                template_key=family,
                signed_name=form.cleaned_data["signed_name"],
                acknowledgements=form.acknowledgements(),
                expected_version=shown_version(request),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Consent signed for {consent.family_label}.")
            return redirect("screening_consent", consent_id=consent.pk)
    elif request.method != "POST":
        view_patient(actor=actor, patient=patient, what="consent")
    return render(
        request,
        "screening/consent_sign.html",
        {
            "patient": patient,
            "template": template,
            "form": form,
            "text_html": mark_safe(to_html(template.render(actor.clinic.name))),  # noqa: S308 (escaped in to_html)
            "witness": actor.user.get_full_name() or actor.user.username,
        },
    )


@require("clinical.view")
def consent_detail(request: ClinicRequest, consent_id: int) -> HttpResponse:
    actor = request.actor
    consent = services.get_consent_for(actor, consent_id, read=True)
    return render(
        request,
        "screening/consent_detail.html",
        {
            "patient": consent.patient,
            "consent": consent,
            "state": consent.state_on(actor.clinic.today()),
            "withdraw_form": WithdrawForm(),
            "text_html": mark_safe(to_html(consent.text)),  # noqa: S308 (escaped in to_html)
        },
    )


@require("clinical.view")
def consent_pdf(request: ClinicRequest, consent_id: int) -> HttpResponse:
    actor = request.actor
    consent = services.get_consent_for(actor, consent_id)
    response = HttpResponse(
        services.consent_pdf(actor=actor, consent=consent), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="consent-{consent.pk}.pdf"'
    return response


@require_POST
@require("consent.record")
def consent_withdraw(request: ClinicRequest, consent_id: int) -> HttpResponse:
    actor = request.actor
    consent = services.get_consent_for(actor, consent_id, "consent.record")
    form = WithdrawForm(request.POST)
    if form.is_valid():
        try:
            services.withdraw_consent(
                actor=actor, consent=consent, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
        else:
            messages.success(request, "Consent withdrawn.")
    else:
        messages.error(request, "Consent not withdrawn — the reason is at most 2000 characters.")
    return redirect("screening_consent", consent_id=consent.pk)


@require_POST
@require("medical.sign")
def consent_cosign(request: ClinicRequest, consent_id: int) -> HttpResponse:
    actor = request.actor
    consent = services.get_consent_for(actor, consent_id, "medical.sign")
    try:
        services.cosign_rems(actor=actor, consent=consent)
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    else:
        messages.success(request, "REMS enrollment co-signed by the prescriber.")
    return redirect("screening_consent", consent_id=consent.pk)
