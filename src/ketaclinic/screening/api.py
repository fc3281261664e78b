"""Screening API: intakes, eligibility screenings, physician decisions, consents."""

from datetime import date
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.urls import reverse
from ninja import Router, Schema, Status
from pydantic import Field

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.clinical.eligibility import FactError
from ketaclinic.links import absolute_url
from ketaclinic.patients.access import get_patient_for
from ketaclinic.screening import services
from ketaclinic.screening.clinic_consent import templates_for
from ketaclinic.screening.models import (
    Consent,
    ConsultationNote,
    IntakeVersion,
    Screening,
)

router = Router(tags=["screening"])


class ScreeningIn(StrictIn):
    protocol: str
    facts: dict[str, Any] = Field(default_factory=dict)


class FindingOut(Schema):
    rule: str
    level: str
    message: str
    source: str


class ScreeningCreated(Schema):
    id: int
    protocol: str
    ruleset_version: int
    ruleset_hash: str
    decision: str
    findings: list[FindingOut]
    missing: list[str]


class SignoffOut(Schema):
    decision: str
    override: bool
    reason: str
    physician: str
    signed_at: str


class ScreeningOut(ScreeningCreated):
    patient_id: int
    intake_version: int | None
    facts: dict[str, Any]
    facts_overridden: list[str]
    created_at: str
    signoff: SignoffOut | None


class DecisionIn(StrictIn):
    decision: str
    reason: str = ""


class IntakeIn(StrictIn):
    data: dict[str, Any]


class IntakeOut(Schema):
    id: int
    version: int
    source: str
    created_at: str
    data: dict[str, Any]
    facts: dict[str, Any]
    suicide_risk_assessed_at: str | None
    # On a patient (link) version: the flags, classes, trials and texts the patient added.
    patient_added: dict[str, list[str]]


class RiskOut(Schema):
    id: str
    text: str


class TemplateOut(Schema):
    template: str
    family: str
    version: int
    title: str
    off_label: bool
    rems: bool
    risks: list[RiskOut]
    text: str


class ConsentIn(StrictIn):
    template: str
    signed_name: str
    acknowledgements: list[str]
    template_version: int | None = Field(
        None, ge=1, le=1_000_000, description="the version shown to the patient; 422 if not current"
    )


class ConsentOut(Schema):
    id: int
    patient_id: int
    template: str
    family: str
    template_version: int
    title: str
    signed_name: str
    signed_at: str
    expires_on: str
    state: str
    witness: str
    rems_enrollment: bool
    prescriber_signed_at: str | None
    withdrawn_at: str | None
    withdrawn_reason: str
    pdf_sha256: str
    pdf_url: str


class WithdrawIn(StrictIn):
    reason: str = ""


def screening_created(s: Screening) -> dict[str, Any]:
    return {
        "id": s.pk,
        "protocol": s.protocol,
        "ruleset_version": s.ruleset_version,
        "ruleset_hash": s.ruleset_hash,
        "decision": s.result,
        "findings": s.findings,
        "missing": s.missing,
    }


def screening_out(s: Screening) -> dict[str, Any]:
    signoff = None
    if s.decision:
        signoff = {
            "decision": s.decision,
            "override": s.is_override,
            "reason": s.decision_reason,
            "physician": s.decided_by_name,
            "signed_at": s.decided_at.isoformat() if s.decided_at else None,
        }
    return {
        **screening_created(s),
        "patient_id": s.patient_id,
        "intake_version": s.intake.version if s.intake else None,
        "facts": s.facts,
        "facts_overridden": sorted(s.overrides),
        "created_at": s.created_at.isoformat(),
        "signoff": signoff,
    }


def consent_out(c: Consent, today: date) -> dict[str, Any]:
    """The consent as JSON; `state` is as of `today`, the clinic's date."""
    return {
        "id": c.pk,
        "patient_id": c.patient_id,
        "template": c.template_key,
        "family": c.family,
        "template_version": c.template_version,
        "title": c.title,
        "signed_name": c.signed_name,
        "signed_at": c.signed_at.isoformat(),
        "expires_on": c.expires_on.isoformat(),
        "state": c.state_on(today),
        "witness": c.witness_name,
        "rems_enrollment": c.rems_enrollment,
        "prescriber_signed_at": c.prescriber_signed_at.isoformat()
        if c.prescriber_signed_at
        else None,
        "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
        "withdrawn_reason": c.withdrawn_reason,
        "pdf_sha256": c.pdf_sha256,
        "pdf_url": reverse("api:consent_pdf", kwargs={"consent_id": c.pk}),
    }


def _fact_error(exc: FactError) -> Status:
    return Status(422, {"detail": [{"loc": ["body", "facts", exc.field], "msg": exc.message}]})


# --- Intake ---------------------------------------------------------------------------


def _intake_out(v: IntakeVersion, patient: Any) -> dict[str, Any]:
    from ketaclinic.screening import intake as rules

    return {
        "id": v.pk,
        "version": v.version,
        "source": v.source,
        "created_at": v.created_at.isoformat(),
        "data": v.data,
        "suicide_risk_assessed_at": v.suicide_risk_assessed_at.isoformat()
        if v.suicide_risk_assessed_at
        else None,
        "patient_added": v.patient_added,
        "facts": rules.raw_facts(v.data, birth_date=patient.birth_date, on=patient.clinic.today()),
    }


@router.get("/patients/{patient_id}/intakes", response=list[IntakeOut], auth=allow("clinical.view"))
def list_intakes(request: ClinicRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.view")
    versions = list(services.intake_versions(actor=actor, patient=patient)[:100])
    services.record(
        actor,
        "view",
        patient_id=patient.pk,
        object_type="screening.intakeversion",
        detail={"versions": [v.version for v in versions]},
    )
    return [_intake_out(v, patient) for v in versions]


@router.post(
    "/patients/{patient_id}/intakes", response={201: IntakeOut}, auth=allow("clinical.edit")
)
def create_intake(request: ClinicRequest, patient_id: int, payload: IntakeIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    version = services.save_intake(actor=actor, patient=patient, data=payload.data)
    return Status(201, _intake_out(version, patient))


# --- Screenings -----------------------------------------------------------------------


@router.post(
    "/patients/{patient_id}/screenings",
    response={201: ScreeningCreated, 422: dict[str, Any]},
    url_name="screening_create",
    auth=allow("screening.run"),
)
def create_screening(request: ClinicRequest, patient_id: int, payload: ScreeningIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "screening.run")
    try:
        screening = services.run_screening(
            actor=actor, patient=patient, protocol=payload.protocol, overrides=payload.facts
        )
    except FactError as exc:
        return _fact_error(exc)
    return Status(201, screening_created(screening))


@router.get(
    "/patients/{patient_id}/screenings", response=list[ScreeningOut], auth=allow("clinical.view")
)
def list_screenings(request: ClinicRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.view")
    screenings = list(
        Screening.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("intake")
        .order_by("-created_at", "-pk")[:100]
    )
    services.record(
        actor,
        "view",
        patient_id=patient.pk,
        object_type="screening.screening",
        detail={"ids": [s.pk for s in screenings]},
    )
    return [screening_out(s) for s in screenings]


@router.get("/screenings/{screening_id}", response=ScreeningOut, auth=allow("clinical.view"))
def read_screening(request: ClinicRequest, screening_id: int) -> dict[str, Any]:
    actor = request.auth
    screening = services.get_screening_for(actor, screening_id, read=True)
    return screening_out(screening)


@router.post(
    "/screenings/{screening_id}/decision",
    response={200: ScreeningOut, 409: dict[str, Any]},
    auth=allow("medical.sign"),
)
def decide(request: ClinicRequest, screening_id: int, payload: DecisionIn) -> Any:
    actor = request.auth
    screening = services.get_screening_for(actor, screening_id, "medical.sign")
    try:
        decided = services.decide(
            actor=actor, screening=screening, decision=payload.decision, reason=payload.reason
        )
    except services.DecisionConflict as exc:
        return Status(409, {"detail": exc.detail, "conflicts": exc.conflicts})
    decided.intake = screening.intake
    return screening_out(decided)


# --- Consents -------------------------------------------------------------------------


@router.get("/consent-templates", response=list[TemplateOut], auth=allow("patient.view"))
def list_templates(request: ClinicRequest) -> list[dict[str, Any]]:
    actor = request.auth
    return [
        {
            "template": t.key,
            "family": t.family,
            "version": t.version,
            "title": t.title,
            "off_label": t.off_label,
            "rems": t.rems,
            "risks": [{"id": r.id, "text": r.text} for r in t.risks],
            "text": t.render(actor.clinic.name),
        }
        for t in templates_for(actor.clinic).values()
    ]


@router.post(
    "/patients/{patient_id}/consents", response={201: ConsentOut}, auth=allow("consent.record")
)
def create_consent(request: ClinicRequest, patient_id: int, payload: ConsentIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "consent.record")
    consent = services.sign_consent(
        actor=actor,
        patient=patient,
        template_key=payload.template,
        signed_name=payload.signed_name,
        acknowledgements=payload.acknowledgements,
        via=Consent.Via.API,
        expected_version=payload.template_version,
    )
    return Status(201, consent_out(consent, actor.clinic.today()))


@router.get(
    "/patients/{patient_id}/consents", response=list[ConsentOut], auth=allow("clinical.view")
)
def list_consents(request: ClinicRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.view")
    consents = services.consents_for(patient)
    services.record(
        actor,
        "view",
        patient_id=patient.pk,
        object_type="screening.consent",
        detail={"ids": [c.pk for c in consents]},
    )
    today = actor.clinic.today()
    return [consent_out(c, today) for c in consents]


@router.post("/consents/{consent_id}/withdraw", response=ConsentOut, auth=allow("consent.record"))
def withdraw_consent(
    request: ClinicRequest, consent_id: int, payload: WithdrawIn | None = None
) -> dict[str, Any]:
    """Withdraw a consent; the body (a reason) is optional: no patient owes one."""
    actor = request.auth
    consent = services.get_consent_for(actor, consent_id, "consent.record")
    reason = payload.reason if payload is not None else ""
    withdrawn = services.withdraw_consent(actor=actor, consent=consent, reason=reason)
    return consent_out(withdrawn, actor.clinic.today())


@router.post("/consents/{consent_id}/rems-cosign", response=ConsentOut, auth=allow("medical.sign"))
def cosign_rems(request: ClinicRequest, consent_id: int) -> dict[str, Any]:
    actor = request.auth
    consent = services.get_consent_for(actor, consent_id, "medical.sign")
    cosigned = services.cosign_rems(actor=actor, consent=consent)
    return consent_out(cosigned, actor.clinic.today())


@router.get("/consents/{consent_id}/pdf", url_name="consent_pdf", auth=allow("clinical.view"))
def consent_pdf(request: ClinicRequest, consent_id: int) -> HttpResponse:
    actor = request.auth
    consent = services.get_consent_for(actor, consent_id)
    response = HttpResponse(
        services.consent_pdf(actor=actor, consent=consent), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="consent-{consent.pk}.pdf"'
    response["X-Content-SHA256"] = consent.pdf_sha256
    return response


# --- Consultation notes ---------------------------------------------------------------


class NoteIn(StrictIn):
    text: str
    screening_id: int | None = None


class NoteAmendmentIn(StrictIn):
    text: str
    reason: str


class AmendmentOut(Schema):
    id: int
    text: str
    reason: str
    signed_by: str
    signed_at: str


class NoteOut(Schema):
    id: int
    patient_id: int
    intake_version: int | None
    screening_id: int | None
    override: bool
    baseline: list[dict[str, Any]]
    text: str
    signed_by: str
    signed_at: str
    amendments: list[AmendmentOut]


def note_out(note: ConsultationNote) -> dict[str, Any]:
    return {
        "id": note.pk,
        "patient_id": note.patient_id,
        "intake_version": note.intake.version if note.intake else None,
        "screening_id": note.screening_id,
        "override": bool(note.screening and note.screening.is_override),
        "baseline": note.baseline,
        "text": note.text,
        "signed_by": note.signed_by_name,
        "signed_at": note.signed_at.isoformat(),
        "amendments": [
            {
                "id": a.pk,
                "text": a.text,
                "reason": a.reason,
                "signed_by": a.signed_by_name,
                "signed_at": a.signed_at.isoformat(),
            }
            for a in note.amendments.all()
        ],
    }


def _notes(actor: Any, **filters: Any) -> Any:
    return (
        ConsultationNote.objects.for_clinic(actor.clinic)
        .filter(**filters)
        .select_related("intake", "screening")
        .prefetch_related("amendments")
        .order_by("-signed_at", "-pk")
    )


@router.get(
    "/patients/{patient_id}/consultation-notes",
    response=list[NoteOut],
    auth=allow("clinical.view"),
)
def list_notes(request: ClinicRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.view")
    notes = list(_notes(actor, patient=patient)[:50])
    services.record(
        actor,
        "view",
        patient_id=patient.pk,
        object_type="screening.consultationnote",
        detail={"ids": [n.pk for n in notes]},
    )
    return [note_out(n) for n in notes]


@router.post(
    "/patients/{patient_id}/consultation-notes",
    response={201: NoteOut},
    auth=allow("medical.sign"),
)
def sign_note(request: ClinicRequest, patient_id: int, payload: NoteIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "medical.sign")
    screening = None
    if payload.screening_id is not None:
        screening = (
            Screening.objects.for_clinic(actor.clinic)
            .filter(pk=payload.screening_id, patient=patient)
            .first()
        )
        if screening is None:
            raise ValidationError({"screening_id": "No such screening for this patient."})
    note = services.sign_note(actor=actor, patient=patient, text=payload.text, screening=screening)
    return Status(201, note_out(_notes(actor, pk=note.pk).get()))


@router.post(
    "/consultation-notes/{note_id}/amendments",
    response={201: NoteOut},
    auth=allow("medical.sign"),
)
def amend_note(request: ClinicRequest, note_id: int, payload: NoteAmendmentIn) -> Status:
    actor = request.auth
    note = _notes(actor, pk=note_id).first()
    if note is None:
        raise Http404("No such consultation note in this clinic.")
    services.amend_note(actor=actor, note=note, text=payload.text, reason=payload.reason)
    return Status(201, note_out(_notes(actor, pk=note.pk).get()))


# --- Patient links --------------------------------------------------------------------


class LinkOut(Schema):
    url: str
    expires_at: str
    emailed_to: str | None = None


class IntakeLinkIn(StrictIn):
    deliver: Literal["copy", "email"] = Field(
        "copy", description="'email' also e-mails the link to the patient's address on record"
    )


class ConsentLinkIn(StrictIn):
    template: str
    deliver: Literal["copy", "email"] = Field(
        "copy", description="'email' also e-mails the link to the patient's address on record"
    )


def _no_address(patient: Any, deliver: str) -> None:
    """Refuse before any link is made when it is to be e-mailed and there is no address."""
    if deliver == "email" and not patient.email:
        raise ValidationError({"deliver": "The patient has no e-mail address on record."})


def _deliver(actor: Any, patient: Any, link: Any, url: str, form: str, deliver: str) -> Status:
    emailed = None
    if deliver == "email":
        emailed = services.email_link(actor=actor, patient=patient, link=link, url=url, form=form)
    return Status(
        201, {"url": url, "expires_at": link.expires_at.isoformat(), "emailed_to": emailed}
    )


@router.post(
    "/patients/{patient_id}/intake-links", response={201: LinkOut}, auth=allow("forms.send")
)
def create_intake_link(
    request: ClinicRequest, patient_id: int, payload: IntakeLinkIn | None = None
) -> Status:
    """A single-use link for the patient's history form; the URL is returned only now."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "forms.send")
    deliver = payload.deliver if payload else "copy"
    _no_address(patient, deliver)
    link, token = services.create_intake_link(actor=actor, patient=patient)
    url = absolute_url(reverse("screening_public_intake", args=[token]))
    return _deliver(actor, patient, link, url, "intake", deliver)


@router.post(
    "/patients/{patient_id}/consent-links", response={201: LinkOut}, auth=allow("forms.send")
)
def create_consent_link(request: ClinicRequest, patient_id: int, payload: ConsentLinkIn) -> Status:
    """A single-use link for the patient to sign a consent remotely; the URL is returned only now."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "forms.send")
    _no_address(patient, payload.deliver)
    link, token = services.create_consent_link(
        actor=actor, patient=patient, template_key=payload.template
    )
    url = absolute_url(reverse("screening_public_consent", args=[token]))
    return _deliver(actor, patient, link, url, "consent", payload.deliver)
