"""Links a patient opens at home: the intake form and the consent to sign."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import hash_token
from ketaclinic.audit.services import record, record_patient_link
from ketaclinic.links import mail_form_link
from ketaclinic.patients.models import Patient
from ketaclinic.screening import intake as intake_rules
from ketaclinic.screening.models import Consent, ConsentLink, IntakeLink, IntakeVersion

from .consents import _check_signature, _sign, get_template
from .intake import _append_version, _merge_patient_answers, _now, latest_intake

LINK_DAYS = 7


TOKEN_PREFIX = "kl_"


# --- Tokenized links ------------------------------------------------------------------


class LinkProblem(Exception):
    """A link that cannot be used: `reason` is "invalid", "expired" or "used"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _new_token() -> tuple[str, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return raw, hash_token(raw)


def _open(model: type[IntakeLink] | type[ConsentLink], token: str, *, lock: bool = False) -> Any:
    queryset = model.objects.select_related("clinic", "patient")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    link = queryset.filter(digest=hash_token(token)).first()
    if link is None:
        raise LinkProblem("invalid")
    if link.used_at is not None:
        raise LinkProblem("used")
    if link.expires_at <= _now():
        raise LinkProblem("expired")
    return link


def create_intake_link(
    *, actor: Actor, patient: Patient, days: int = LINK_DAYS
) -> tuple[IntakeLink, str]:
    """Return a new single-use intake link and its token (shown once, stored only hashed)."""
    actor.check("forms.send")
    raw, digest = _new_token()
    with transaction.atomic():
        link = IntakeLink.objects.create(
            clinic=actor.clinic,
            patient=patient,
            digest=digest,
            created_by=actor.user,
            expires_at=_now() + timedelta(days=days),
        )
        record(actor, "create", patient_id=patient.pk, obj=link, detail={"days": days})
    return link, raw


# What a link's e-mail calls the form: plain words, nothing clinical (an e-mail can be
# read by others).
LINK_WHAT = {"intake": "a short history form", "consent": "a consent form to read and sign"}


def email_link(
    *, actor: Actor, patient: Patient, link: IntakeLink | ConsentLink, url: str, form: str
) -> str:
    """E-mail the patient a link just created (to the address on record); returns the address.

    The audit event and the e-mail go together: the e-mail leaves only if the event is
    written.
    """
    if not patient.email:
        raise ValidationError({"email": "The patient has no e-mail address on record."})
    with transaction.atomic():
        record(actor, "send", patient_id=patient.pk, obj=link, detail={"by": "email"})
        mail_form_link(
            to=patient.email,
            clinic_name=actor.clinic.name,
            what=LINK_WHAT[form],
            url=url,
            expires_at=link.expires_at,
            tz=actor.clinic.tz,
        )
    return patient.email


def open_intake_link(token: str) -> IntakeLink:
    """Return the usable link for this token, or raise LinkProblem."""
    return _open(IntakeLink, token)


def submit_intake_link(*, token: str, data: dict[str, Any], ip: str | None) -> IntakeVersion:
    """Store the patient's history answers as a new intake version on top of the latest one.

    The patient's answers are added to what staff recorded (see _merge_patient_answers);
    the version's `patient_added` tells staff what is new.
    """
    answers = {k: v for k, v in data.items() if k in intake_rules.PATIENT_FIELDS}
    with transaction.atomic():
        link = _open(IntakeLink, token, lock=True)
        patient = link.patient
        current = latest_intake(patient)
        # Validated alone first, so an error names the patient's own row, not a merged one.
        own = intake_rules.clean_intake(answers)
        merged, added = _merge_patient_answers(current.data if current else {}, own)
        cleaned = intake_rules.clean_intake(merged)
        version = _append_version(
            patient=patient,
            data=cleaned,
            source=IntakeVersion.Source.PATIENT,
            user=None,
            patient_added=added,
        )
        link.used_at = _now()
        link.save(update_fields=["used_at"])
        record_patient_link(
            "create",
            clinic_id=link.clinic_id,
            patient_id=patient.pk,
            obj=version,
            ip=ip,
            detail={"version": version.version, "link": link.pk, "added": sorted(added)},
        )
    return version


def create_consent_link(
    *, actor: Actor, patient: Patient, template_key: str, days: int = LINK_DAYS
) -> tuple[ConsentLink, str]:
    """Return a single-use link for the patient to sign `template_key` remotely, and its token."""
    actor.check("forms.send")
    get_template(template_key, actor.clinic)
    raw, digest = _new_token()
    with transaction.atomic():
        link = ConsentLink.objects.create(
            clinic=actor.clinic,
            patient=patient,
            template_key=template_key,
            digest=digest,
            created_by=actor.user,
            expires_at=_now() + timedelta(days=days),
        )
        record(actor, "create", patient_id=patient.pk, obj=link, detail={"template": template_key})
    return link, raw


def open_consent_link(token: str) -> ConsentLink:
    return _open(ConsentLink, token)


def sign_consent_link(
    *,
    token: str,
    signed_name: str,
    acknowledgements: list[str],
    ip: str | None,
    expected_version: int | None = None,
) -> Consent:
    """The patient signs from a link: no witness; the link is used up."""
    with transaction.atomic():
        link = _open(ConsentLink, token, lock=True)
        template = get_template(link.template_key, link.clinic_id, expected_version)
        _check_signature(
            patient=link.patient,
            template=template,
            signed_name=signed_name,
            acknowledgements=acknowledgements,
        )
        consent = _sign(
            patient=link.patient,
            template=template,
            signed_name=signed_name,
            ip=ip,
            via=Consent.Via.LINK,
            witness=None,
        )
        link.used_at = _now()
        link.consent = consent
        link.save(update_fields=["used_at", "consent"])
        record_patient_link(
            "sign",
            clinic_id=link.clinic_id,
            patient_id=link.patient_id,
            obj=consent,
            ip=ip,
            detail={"family": consent.family, "version": consent.template_version, "link": link.pk},
        )
    return consent
