"""Consultation and eligibility pages: intake, screening result and decision, notes, consent."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import ChoiceField
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ketaclinic import limits
from ketaclinic.accounts.access import ClinicRequest, client_ip, require
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.eligibility import FACT_SPECS, FactError
from ketaclinic.links import absolute_url
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.services import view_patient
from ketaclinic.screening import services
from ketaclinic.screening.consent import to_html
from ketaclinic.screening.forms import (
    HISTORY_LABELS,
    MEDICATION_LABELS,
    AmendForm,
    ConsentLinkForm,
    ConsentSignForm,
    DecisionForm,
    IntakeForm,
    NoteForm,
    PatientIntakeForm,
    RunScreeningForm,
    WithdrawForm,
)
from ketaclinic.screening.intake import RESPONSE_LABELS, failed_adequate_trials, trial_counts
from ketaclinic.screening.models import (
    FAMILY_LABELS,
    ConsultationNote,
    IntakeVersion,
    Screening,
    clinic_today,
)

# Public link pages: at most this many requests per address per window (policy).
LINK_RATE_LIMIT = 30
LINK_RATE_WINDOW = 600
LINK_MESSAGES = {
    "invalid": "This link is not valid. Please contact the clinic for a new one.",
    "expired": "This link has expired. Please contact the clinic for a new one.",
    "used": "This link has already been used. Thank you — the clinic has your answers.",
}


def _intake_summary(version: IntakeVersion | None) -> dict[str, object]:
    """Readable view of a stored intake for templates."""
    if version is None:
        return {}
    data = version.data
    return {
        "version": version,
        "data": data,
        "trials": [
            {
                **t,
                "response_label": RESPONSE_LABELS.get(t["response"], t["response"]),
                "counts": trial_counts(t),
            }
            for t in data.get("trials", [])
        ],
        "failed_adequate_trials": failed_adequate_trials(data),
        "diagnosis_labels": [
            CONDITIONS[c].display for c in data.get("diagnoses", []) if c in CONDITIONS
        ],
        "history_labels": [HISTORY_LABELS[f] for f in data.get("history", [])],
        "medication_labels": [MEDICATION_LABELS[m] for m in data.get("medications", [])],
        "patient_added": _patient_added(version),
    }


TEXT_LABELS = {
    "psychiatric_history": "psychiatric history",
    "substance_use": "substance use",
    "allergies": "allergies",
}


def _patient_added(version: IntakeVersion) -> list[tuple[str, str]]:
    """What the patient added through the link, as (what, items) lines for staff to review."""
    added = version.patient_added or {}
    lines = []
    if added.get("history"):
        lines.append(("Medical history", ", ".join(HISTORY_LABELS[f] for f in added["history"])))
    if added.get("medications"):
        lines.append(
            ("Medication classes", ", ".join(MEDICATION_LABELS[m] for m in added["medications"]))
        )
    if added.get("trials"):
        lines.append(
            ("Antidepressant trials (adequacy not yet judged)", ", ".join(added["trials"]))
        )
    if added.get("text"):
        lines.append(("Wrote in", ", ".join(TEXT_LABELS.get(f, f) for f in added["text"])))
    return lines


# --- Intake ---------------------------------------------------------------------------


def _intake_page(
    request: ClinicRequest, patient, form: IntakeForm, status: int = 200
) -> HttpResponse:
    actor = request.actor
    current = services.latest_intake(patient)
    versions = list(
        IntakeVersion.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("created_by")
        .order_by("-version")[:20]
    )
    return render(
        request,
        "screening/intake.html",
        {
            "patient": patient,
            "form": form,
            "versions": versions,
            "current": current,
            "summary": _intake_summary(current),
            # A later C-SSRS screen is what screenings read, not the intake's risk.
            "newer_cssrs": services.superseding_cssrs(patient, current),
            "run_form": RunScreeningForm(),
            "response_choices": list(RESPONSE_LABELS.items()),
        },
        status=status,
    )


@require("clinical.view")
def intake(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """The structured intake form (one screen, sections) pre-filled from the latest version."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view", read="intake")
    current = services.latest_intake(patient)
    data = current.data if current else {}
    initial = IntakeForm.initial_from(
        data,
        medications_on_file=services.medication_classes_on_file(patient),
        conditions_on_file=services.conditions_on_file(patient),
        weight_kg=patient.weight_kg,
        height_cm=patient.height_cm,
    )
    return _intake_page(
        request, patient, IntakeForm(initial=initial, trials=data.get("trials", []))
    )


@require_POST
@require("clinical.edit")
def intake_save(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Save the intake as a new version ("Add a trial" re-renders with one more row)."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    form = IntakeForm(request.POST)
    if "add_trial" in request.POST:
        form.is_valid()
        return _intake_page(request, patient, form)
    if form.is_valid():
        try:
            version = services.save_intake(actor=actor, patient=patient, data=form.intake_data())
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, f"Intake saved as version {version.version}.")
            return redirect("screening_intake", patient_id=patient.pk)
    return _intake_page(request, patient, form, status=422)


@require("clinical.view")
def intake_version(request: ClinicRequest, patient_id: int, version: int) -> HttpResponse:
    """An older (or the current) intake version, read-only."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view")
    found = (
        IntakeVersion.objects.for_clinic(actor.clinic)
        .filter(patient=patient, version=version)
        .first()
    )
    if found is None:
        raise Http404("No such intake version.")
    services.record(actor, "view", patient_id=patient.pk, obj=found, detail={"version": version})
    return render(
        request,
        "screening/intake_version.html",
        {
            "patient": patient,
            "summary": _intake_summary(found),
        },
    )


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


def public_intake(request: HttpRequest, token: str) -> HttpResponse:
    """The patient's history form from a link: shows only the clinic's name."""
    if _rate_limited(request):
        return render(
            request,
            "screening/public_message.html",
            {"message": "Too many attempts. Please wait a few minutes and try again."},
            status=429,
        )
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


# --- Screening ------------------------------------------------------------------------


@require_POST
@require("screening.run")
def screening_run(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "screening.run")
    form = RunScreeningForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a protocol to evaluate.")
        return redirect("screening_intake", patient_id=patient.pk)
    try:
        screening = services.run_screening(
            actor=actor, patient=patient, protocol=form.cleaned_data["protocol"]
        )
    except (ValidationError, FactError) as exc:
        messages.error(request, f"Not evaluated — {exc}")
        return redirect("screening_intake", patient_id=patient.pk)
    return redirect("screening_result", screening_id=screening.pk)


LEVEL_BADGES = {
    "exclude": ("level-urgent", "⛔", "Exclude"),
    "require": ("level-high", "!", "Requirement not met"),
    "caution": ("level-caution", "⚠", "Caution"),
    "info": ("level-info", "ℹ", "Info"),
}
DECISION_BADGES = {
    "eligible": ("level-ok", "✓", "Eligible"),
    "needs_review": ("level-caution", "⚠", "Needs review"),
    "ineligible": ("level-urgent", "⛔", "Ineligible"),
}


@require("clinical.view")
def screening_result(request: ClinicRequest, screening_id: int) -> HttpResponse:
    """The explained evaluation: decision, each finding with level and source, missing facts."""
    actor = request.actor
    screening = services.get_screening_for(actor, screening_id, read=True)
    form = (
        DecisionForm(request.POST or None, result=screening.result)
        if actor.may("medical.sign") and not screening.decision
        else None
    )
    return _result_page(request, screening, form)


def _value_label(fact: str, code: str) -> str:
    """One item of a list fact as staff read it (a diagnosis, a history flag, a drug class)."""
    if fact == "diagnoses" and code in CONDITIONS:
        return CONDITIONS[code].display
    labels = {"history": HISTORY_LABELS, "medications": MEDICATION_LABELS}.get(fact, {})
    return labels.get(code, code.replace("_", " "))


def _result_page(request: HttpRequest, screening, form, status: int = 200) -> HttpResponse:
    findings = [
        {**f, "badge": LEVEL_BADGES.get(f["level"], LEVEL_BADGES["info"])}
        for f in screening.findings
    ]
    facts = [
        {
            "name": name,
            "meaning": FACT_SPECS[name].meaning[:1].upper() + FACT_SPECS[name].meaning[1:],
            "unit": FACT_SPECS[name].unit,
            "value": ", ".join(_value_label(name, v) for v in value)
            if isinstance(value, list)
            else value,
            "overridden": name in screening.overrides,
        }
        for name, value in screening.facts.items()
    ]
    missing = [
        {"name": m, "meaning": FACT_SPECS[m].meaning if m in FACT_SPECS else m}
        for m in screening.missing
    ]
    return render(
        request,
        "screening/result.html",
        {
            "patient": screening.patient,
            "screening": screening,
            "findings": findings,
            "facts": facts,
            "missing": missing,
            "badge": DECISION_BADGES[screening.result],
            "form": form,
        },
        status=status,
    )


@require_POST
@require("medical.sign")
def screening_decide(request: ClinicRequest, screening_id: int) -> HttpResponse:
    actor = request.actor
    screening = services.get_screening_for(actor, screening_id, "medical.sign")
    form = DecisionForm(request.POST, result=screening.result)
    if form.is_valid():
        try:
            services.decide(
                actor=actor,
                screening=screening,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
        except services.DecisionConflict as exc:
            form.add_error(None, exc.detail)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Decision signed.")
            return redirect("screening_result", screening_id=screening.pk)
    return _result_page(request, screening, form, status=422)


# --- Consultation note ----------------------------------------------------------------


def _consultation_page(
    request: ClinicRequest, patient, form: NoteForm | None, status: int = 200
) -> HttpResponse:
    actor = request.actor
    notes = list(
        ConsultationNote.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("intake", "screening")
        .prefetch_related("amendments")
        .order_by("-signed_at")[:20]
    )
    current = services.latest_intake(patient)
    return render(
        request,
        "screening/consultation.html",
        {
            "patient": patient,
            "form": form,
            "notes": notes,
            "current": current,
            "baseline": services.baseline_scores(patient),
            "screenings": services.latest_screenings(patient),
            "amend_form": AmendForm(),
            "summary": _intake_summary(current),
        },
        status=status,
    )


def _note_form(patient, data=None) -> NoteForm:
    form = NoteForm(data)
    cast(ChoiceField, form.fields["screening"]).choices = [("", "None")] + [
        (
            s.pk,
            f"{s.protocol_label} — {s.get_decision_display() or 'not decided'} ({s.created_at:%Y-%m-%d})",
        )
        for s in services.latest_screenings(patient)
    ]
    return form


@require("clinical.view")
def consultation(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """The physician's consultation notes: intake, baseline scores, screening; sign and amend."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view", read="consultation")
    form = _note_form(patient) if actor.may("medical.sign") else None
    return _consultation_page(request, patient, form)


@require_POST
@require("medical.sign")
def consultation_sign(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "medical.sign")
    form = _note_form(patient, request.POST)
    if form.is_valid():
        chosen = None
        if form.cleaned_data["screening"]:
            chosen = (
                Screening.objects.for_clinic(actor.clinic)
                .filter(patient=patient, pk=form.cleaned_data["screening"])
                .first()
            )
        try:
            services.sign_note(
                actor=actor, patient=patient, text=form.cleaned_data["text"], screening=chosen
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Consultation note signed.")
            return redirect("screening_consultation", patient_id=patient.pk)
    return _consultation_page(request, patient, form, status=422)


@require_POST
@require("medical.sign")
def note_amend(request: ClinicRequest, note_id: int) -> HttpResponse:
    actor = request.actor
    note = ConsultationNote.objects.for_clinic(actor.clinic).filter(pk=note_id).first()
    if note is None:
        raise Http404
    form = AmendForm(request.POST)
    if form.is_valid():
        services.amend_note(
            actor=actor,
            note=note,
            text=form.cleaned_data["text"],
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, "Amendment signed; the original note is kept.")
    else:
        messages.error(request, "Amendment not saved — write the amendment and its reason.")
    return redirect("screening_consultation", patient_id=note.patient_id)


# --- Consent --------------------------------------------------------------------------


def _shown_version(request: HttpRequest) -> int | None:
    """The template version the signing page showed (posted back with the signature)."""
    raw = request.POST.get("template_version", "")
    return int(raw) if raw.isdigit() and len(raw) < 9 else None


def _template_or_404(family: str, clinic: Any):
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
    template = _template_or_404(family, actor.clinic)
    form = ConsentSignForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            consent = services.sign_consent(
                actor=actor,
                patient=patient,
                template_key=family,
                signed_name=form.cleaned_data["signed_name"],
                acknowledgements=form.acknowledgements(),
                expected_version=_shown_version(request),
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
            "state": consent.state_on(clinic_today(actor.clinic)),
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
        return render(
            request,
            "screening/public_message.html",
            {"message": "Too many attempts. Please wait a few minutes and try again."},
            status=429,
        )
    try:
        link = services.open_consent_link(token)
    except services.LinkProblem as problem:
        return _link_problem(request, problem.reason)
    template = _template_or_404(link.template_key, link.clinic_id)
    form = ConsentSignForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            services.sign_consent_link(
                token=token,
                signed_name=form.cleaned_data["signed_name"],
                acknowledgements=form.acknowledgements(),
                ip=client_ip(request),
                expected_version=_shown_version(request),
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
