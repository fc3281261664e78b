"""Single-use links for the patient: staff create them, the patient opens them (public pages)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ketaclinic import limits
from ketaclinic.accounts.access import ClinicRequest, client_ip, require
from ketaclinic.links import absolute_url
from ketaclinic.patients.access import get_patient_for
from ketaclinic.screening import services
from ketaclinic.screening.consent import to_html
from ketaclinic.screening.forms import (
    ConsentLinkForm,
    ConsentSignForm,
    PatientIntakeForm,
)
from ketaclinic.screening.intake import RESPONSE_LABELS
from ketaclinic.screening.models import (
    FAMILY_LABELS,
)
from ketaclinic.screening.views.consent import consent_template_or_404, shown_version

# Public link pages: at most this many requests per address per window (policy).
LINK_RATE_LIMIT = 30
LINK_RATE_WINDOW = 600
LINK_MESSAGES = {
    "invalid": "This link is not valid. Please contact the clinic for a new one.",
    "expired": "This link has expired. Please contact the clinic for a new one.",
    "used": "This link has already been used. Thank you — the clinic has your answers.",
}


@require_POST
@require("forms.send")
def intake_link_create(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Create a single-use intake link and show it once."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "forms.send")
    if _cannot_email(request, patient):
        return redirect("patient_chart", patient_id=patient.pk)
    link, token = services.create_intake_link(actor=actor, patient=patient)
    url = absolute_url(reverse("screening_public_intake", args=[token]))
    return _link_created(request, actor, patient, link, url, "intake", "intake history form")


def _cannot_email(request: HttpRequest, patient: Any) -> bool:
    """True (with a message) when the link was to be e-mailed and there is no address."""
    if request.POST.get("deliver") == "email" and not patient.email:
        messages.error(
            request,
            "The patient has no e-mail address on record: add one under Edit details, "
            "or create a link to copy. No link was created.",
        )
        return True
    return False


def _link_created(
    request: HttpRequest, actor: Any, patient: Any, link: Any, url: str, form: str, what: str
) -> HttpResponse:
    """Show the new link once (to copy), e-mailing it first when that was asked for."""
    emailed = None
    if request.POST.get("deliver") == "email":
        emailed = services.email_link(actor=actor, patient=patient, link=link, url=url, form=form)
    return render(
        request,
        "screening/link_created.html",
        {"patient": patient, "url": url, "link": link, "what": what, "emailed": emailed},
    )


def _rate_limited(request: HttpRequest) -> bool:
    key = f"screening:link-rate:{client_ip(request) or 'unknown'}"
    return limits.limited_after_hit(key, LINK_RATE_LIMIT, LINK_RATE_WINDOW)


def _link_problem(request: HttpRequest, reason: str, status: int = 410) -> HttpResponse:
    return render(
        request,
        "screening/public_message.html",
        {"message": LINK_MESSAGES.get(reason, LINK_MESSAGES["invalid"])},
        status=404 if reason == "invalid" else status,
    )


def _too_many_attempts(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "screening/public_message.html",
        {"message": "Too many attempts. Please wait a few minutes and try again."},
        status=429,
    )


def public_intake(request: HttpRequest, token: str) -> HttpResponse:
    """The patient's history form from a link: shows only the clinic's name."""
    if _rate_limited(request):
        return _too_many_attempts(request)
    try:
        link = services.open_intake_link(token)
    except services.LinkProblem as problem:
        return _link_problem(request, problem.reason)
    form = PatientIntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and "add_trial" not in request.POST:
        try:
            services.submit_intake_link(token=token, data=form.intake_data(), ip=client_ip(request))
        except services.LinkProblem as problem:
            return _link_problem(request, problem.reason)
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            return render(
                request,
                "screening/public_message.html",
                {
                    "clinic_name": link.clinic.name,
                    "message": "Thank you. Your answers have been sent to the clinic.",
                },
            )
    return render(
        request,
        "screening/public_intake.html",
        {
            "clinic_name": link.clinic.name,
            "form": form,
            "response_choices": list(RESPONSE_LABELS.items()),
        },
    )


@require_POST
@require("forms.send")
def consent_link_create(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "forms.send")
    form = ConsentLinkForm(request.POST)
    if not form.is_valid():
        raise Http404
    if _cannot_email(request, patient):
        return redirect("patient_chart", patient_id=patient.pk)
    link, token = services.create_consent_link(
        actor=actor, patient=patient, template_key=form.cleaned_data["template"]
    )
    url = absolute_url(reverse("screening_public_consent", args=[token]))
    what = f"consent form ({FAMILY_LABELS[form.cleaned_data['template']]})"
    return _link_created(request, actor, patient, link, url, "consent", what)


def public_consent(request: HttpRequest, token: str) -> HttpResponse:
    """The patient signs from a link (no witness): shows only the clinic's name."""
    if _rate_limited(request):
        return _too_many_attempts(request)
    try:
        link = services.open_consent_link(token)
    except services.LinkProblem as problem:
        return _link_problem(request, problem.reason)
    template = consent_template_or_404(link.template_key, link.clinic_id)
    form = ConsentSignForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            services.sign_consent_link(
                token=token,
                signed_name=form.cleaned_data["signed_name"],
                acknowledgements=form.acknowledgements(),
                ip=client_ip(request),
                expected_version=shown_version(request),
            )
        except services.LinkProblem as problem:
            return _link_problem(request, problem.reason)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return render(
                request,
                "screening/public_message.html",
                {
                    "clinic_name": link.clinic.name,
                    "message": "Thank you. Your signed consent has been sent to the clinic.",
                },
            )
    return render(
        request,
        "screening/public_consent.html",
        {
            "clinic_name": link.clinic.name,
            "template": template,
            "form": form,
            "text_html": mark_safe(to_html(template.render(link.clinic.name))),  # noqa: S308 (escaped in to_html)
        },
    )
