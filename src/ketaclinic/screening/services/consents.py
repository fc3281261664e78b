"""Consent: signing (in the clinic), the PDF, the REMS co-signature, withdrawal."""

from __future__ import annotations

from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.accounts.models import User
from ketaclinic.audit.services import record
from ketaclinic.patients.models import Patient
from ketaclinic.patients.restricted import check_chart
from ketaclinic.screening.consent import ConsentTemplate, SignedFacts, render_pdf, sha256
from ketaclinic.screening.models import Consent

from .intake import _name, _now

# --- Consent --------------------------------------------------------------------------


CONSENT_NOT_VALID = {
    "withdrawn": "This consent was withdrawn; the patient must sign a new one.",
    "expired": "This consent has expired; the patient must sign a new one.",
    "not_yet": "This consent is not valid yet.",
}


def consent_months() -> int:
    return int(getattr(settings, "KETACLINIC_CONSENT_MONTHS", 12))


def get_template(key: str, clinic: Any, expected_version: int | None = None) -> ConsentTemplate:
    """The template the clinic's patients sign now (its own copy when newer), or 422.

    `expected_version` is the version the signer was shown: if the clinic published a
    newer one meanwhile, the signature is refused rather than attached to unread text.
    """
    from ketaclinic.screening.clinic_consent import templates_for

    found = templates_for(clinic)
    template = found.get(key)
    if template is None:
        raise ValidationError({"template": f"Unknown consent template; known: {', '.join(found)}."})
    if expected_version is not None and expected_version != template.version:
        raise ValidationError(
            {
                "template": "The clinic updated this consent while it was open: read the new "
                f"version ({template.version}) and sign again."
            }
        )
    return template


def _check_signature(
    *, patient: Patient, template: ConsentTemplate, signed_name: str, acknowledgements: list[str]
) -> None:
    typed = " ".join((signed_name or "").split())
    expected = {
        f"{patient.given_name} {patient.family_name}".casefold(),
        f"{patient.display_name}".casefold(),
    }
    if not typed or typed.casefold() not in {" ".join(e.split()) for e in expected}:
        raise ValidationError(
            {"signed_name": "Type the patient's full name exactly as registered."}
        )
    ids = [r.id for r in template.risks]
    unknown = [a for a in acknowledgements if a not in ids]
    if unknown:
        raise ValidationError({"acknowledgements": f"Unknown acknowledgement {unknown[0]!r}."})
    missing = [i for i in ids if i not in acknowledgements]
    if missing:
        raise ValidationError(
            {
                "acknowledgements": f"Every risk must be acknowledged; not ticked: {', '.join(missing)}."
            }
        )


def _sign(
    *,
    patient: Patient,
    template: ConsentTemplate,
    signed_name: str,
    ip: str | None,
    via: str,
    witness: User | None,
) -> Consent:
    clinic = patient.clinic
    signed_at = _now()
    signed_on = timezone.localtime(signed_at, clinic.tz).date()
    expires_on = signed_on + relativedelta(months=consent_months())
    text = template.render(clinic.name)
    witness_name = _name(witness) if witness else ""
    pdf = render_pdf(
        title=template.title,
        text=text,
        facts=SignedFacts(
            patient_name=f"{patient.given_name} {patient.family_name}",
            mrn=patient.mrn,
            birth_date=patient.birth_date.isoformat(),
            signed_name=" ".join(signed_name.split()),
            signed_at=timezone.localtime(signed_at, clinic.tz),
            ip=ip or "",
            via=Consent.Via(via).label,
            witness_name=witness_name,
            ticked=tuple(r.text for r in template.risks),
            template_family=template.family,
            template_version=template.version,
            consent_valid_to=f"{expires_on:%Y-%m-%d} (not valid from that day)",
        ),
    )
    return Consent.objects.create(
        clinic=clinic,
        patient=patient,
        family=template.family,
        template_key=template.key,
        template_version=template.version,
        title=template.title,
        text=text,
        risks=[{"id": r.id, "text": r.text} for r in template.risks],
        signed_name=" ".join(signed_name.split()),
        signed_at=signed_at,
        signed_on=signed_on,
        ip=ip,
        via=via,
        witness=witness,
        witness_name=witness_name,
        expires_on=expires_on,
        rems_enrollment=template.rems,
        pdf=pdf,
        pdf_sha256=sha256(pdf),
    )


def sign_consent(
    *,
    actor: Actor,
    patient: Patient,
    template_key: str,
    signed_name: str,
    acknowledgements: list[str],
    via: str = Consent.Via.TABLET,
    expected_version: int | None = None,
) -> Consent:
    """Record a consent the patient signs in front of the logged-in staff member (the witness)."""
    actor.check("consent.record")
    template = get_template(template_key, actor.clinic, expected_version)
    _check_signature(
        patient=patient,
        template=template,
        signed_name=signed_name,
        acknowledgements=acknowledgements,
    )
    with transaction.atomic():
        consent = _sign(
            patient=patient,
            template=template,
            signed_name=signed_name,
            ip=actor.ip,
            via=via,
            witness=actor.user,
        )
        record(
            actor,
            "sign",
            patient_id=patient.pk,
            obj=consent,
            detail={"family": consent.family, "version": consent.template_version, "via": via},
        )
    return consent


def _consent_guard(actor: Actor, consent: Consent) -> None:
    check_chart(actor, consent.patient)


def get_consent_for(
    actor: Actor, consent_id: int, action: str = "clinical.view", *, read: bool = False
) -> Consent:
    """The consent with this id in the actor's clinic, or 404 (`read`: audit the read here)."""
    return get_for(
        actor,
        Consent,
        consent_id,
        action,
        related=("patient",),
        what="consent",
        guard=_consent_guard,
        read=read,
    )


def consent_pdf(*, actor: Actor, consent: Consent) -> bytes:
    """Return the stored PDF (audited as a download)."""
    actor.check("clinical.view")
    record(actor, "download", patient_id=consent.patient_id, obj=consent, detail={"what": "pdf"})
    return bytes(consent.pdf)


def cosign_rems(*, actor: Actor, consent: Consent) -> Consent:
    """The prescriber signs the esketamine REMS patient enrollment."""
    actor.check("medical.sign")
    if not consent.rems_enrollment:
        raise ValidationError({"consent": "This consent has no REMS enrollment."})
    state = consent.state_on(actor.clinic.today())
    if state != "valid":
        raise ValidationError({"consent": CONSENT_NOT_VALID[state]})
    with transaction.atomic():
        # Re-checked in the UPDATE so a withdrawal a moment ago is not co-signed.
        updated = Consent.objects.filter(
            pk=consent.pk, prescriber_signed_at__isnull=True, withdrawn_at__isnull=True
        ).update(
            prescriber=actor.user, prescriber_name=_name(actor.user), prescriber_signed_at=_now()
        )
        if not updated:
            consent.refresh_from_db(fields=["withdrawn_at"])
            raise ValidationError(
                {
                    "consent": CONSENT_NOT_VALID["withdrawn"]
                    if consent.withdrawn_at is not None
                    else "The prescriber has already signed this enrollment."
                }
            )
        record(
            actor,
            "sign",
            patient_id=consent.patient_id,
            obj=consent,
            detail={"what": "rems_prescriber"},
        )
    consent.refresh_from_db()
    return consent


def withdraw_consent(*, actor: Actor, consent: Consent, reason: str = "") -> Consent:
    """Withdraw a consent (time, who recorded it and any reason given); it stays readable.

    The reason is optional: a patient may withdraw consent at any time without giving
    one (the consent text says so), and staff must not have to invent one.
    """
    actor.check("consent.record")
    reason = (reason or "").strip()
    if len(reason) > 2000:
        raise ValidationError({"reason": "At most 2000 characters."})
    with transaction.atomic():
        updated = Consent.objects.filter(pk=consent.pk, withdrawn_at__isnull=True).update(
            withdrawn_at=_now(),
            withdrawn_reason=reason,
            withdrawn_by=actor.user,
            withdrawn_by_name=_name(actor.user),
        )
        if not updated:
            raise ValidationError({"consent": "This consent was already withdrawn."})
        record(actor, "withdraw", patient_id=consent.patient_id, obj=consent)
    consent.refresh_from_db()
    return consent


def consents_for(patient: Patient) -> list[Consent]:
    return list(
        Consent.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        .defer("pdf", "text")
        .order_by("-signed_at", "-pk")[:50]
    )
