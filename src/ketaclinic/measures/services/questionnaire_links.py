"""Questionnaire links: sending one, finding it by its token, opening and submitting it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record, record_patient_link
from ketaclinic.measures.models import (
    Alert,
    LinkToken,
    QuestionnaireLink,
    Response,
    Schedule,
    Source,
)
from ketaclinic.measures.registry import get_instrument, patient_may_fill
from ketaclinic.patients.models import Patient

from .config import base_url, link_hours
from .responses import _store

# --------------------------------------------------------------------------- patient links


def hash_link_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_bundle(codes: Sequence[str]) -> list[str]:
    if isinstance(codes, str) or not codes:
        raise ValidationError({"instruments": "Choose at least one questionnaire."})
    bundle: list[str] = []
    for code in codes:
        definition = get_instrument(code, "instruments")
        if not patient_may_fill(definition):
            raise ValidationError(
                {"instruments": f"{definition.title} is rated by a clinician, not the patient."}
            )
        if code not in bundle:
            bundle.append(code)
    return bundle


def link_url(raw: str) -> str:
    return base_url() + reverse("questionnaire_link", args=[raw])


def _mail_link(
    link: QuestionnaireLink, raw: str, clinic_name: str, to: str, *, reminder: bool
) -> None:
    # The e-mail names the clinic and the link only: no names, no questionnaire titles
    # beyond a count, nothing an intercepted e-mail would reveal about the patient.
    local = timezone.localtime(link.expires_at, link.clinic.tz)
    lines = [
        f"{clinic_name} asks you to fill in {len(link.instruments)} short questionnaire"
        f"{'s' if len(link.instruments) != 1 else ''}.",
        "",
        f"Open this link (it works once, until {local:%d %b %Y %H:%M} {local.tzname()}):",
        link_url(raw),
        *(["(The link in the earlier e-mail works too, until the same time.)"] if reminder else []),
        "",
        "If you are in crisis or thinking of harming yourself, call or text 988 "
        "(Suicide & Crisis Lifeline) or 911 now; do not wait for this questionnaire.",
    ]
    subject = f"{'Reminder: ' if reminder else ''}Questionnaire from {clinic_name}"
    transaction.on_commit(
        lambda: send_mail(
            subject=subject, message="\n".join(lines), from_email=None, recipient_list=[to]
        )
    )


def _new_link(
    *,
    clinic: Clinic,
    patient: Patient,
    bundle: list[str],
    now: datetime,
    sent_by_id: int | None,
    schedule: Schedule | None = None,
) -> tuple[QuestionnaireLink, str]:
    link = QuestionnaireLink.objects.create(
        clinic=clinic,
        patient=patient,
        instruments=bundle,
        created_at=now,
        expires_at=now + timedelta(hours=link_hours()),
        sent_by_id=sent_by_id,
        schedule=schedule,
        last_sent_at=now,
    )
    return link, _new_token(link, now)


def _new_token(link: QuestionnaireLink, now: datetime) -> str:
    """A fresh raw token for the link; only its hash is stored, beside the earlier ones."""
    raw = secrets.token_urlsafe(32)
    LinkToken.objects.create(link=link, token_hash=hash_link_token(raw), sent_at=now)
    return raw


def send_questionnaire(
    *, actor: Actor, patient: Patient, instruments: Sequence[str]
) -> QuestionnaireLink:
    """E-mail the patient a single-use, expiring link to a questionnaire or a bundle."""
    actor.check("measures.send")
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This patient belongs to another clinic.")
    bundle = _check_bundle(instruments)
    if not patient.email:
        raise ValidationError({"email": "The patient has no e-mail address on record."})
    now = timezone.now()
    with transaction.atomic():
        link, raw = _new_link(
            clinic=actor.clinic, patient=patient, bundle=bundle, now=now, sent_by_id=actor.user.pk
        )
        record(actor, "send", patient_id=patient.pk, obj=link, detail={"instruments": bundle})
        _mail_link(link, raw, actor.clinic.name, patient.email, reminder=False)
    return link


class LinkState:
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class LinkUnavailable(Exception):
    """The link cannot take answers; `state` says why (used, expired or unknown)."""

    def __init__(self, state: str, link: QuestionnaireLink | None) -> None:
        self.state = state
        self.link = link
        super().__init__(f"This link is {state}.")


def _state_of(link: QuestionnaireLink, now: datetime) -> str:
    if link.used_at is not None:
        return LinkState.USED
    if link.expires_at <= now:
        return LinkState.EXPIRED
    return LinkState.VALID


def find_link(raw: str) -> tuple[QuestionnaireLink | None, str]:
    """The link for a raw token and its state (valid, used, expired, unknown).

    Any token e-mailed for the link (the first e-mail or a reminder) finds it.
    """
    if not raw or len(raw) > 200:
        return None, LinkState.UNKNOWN
    token = (
        LinkToken.objects.select_related("link__clinic")
        .filter(token_hash=hash_link_token(raw))
        .first()
    )
    if token is None:
        return None, LinkState.UNKNOWN
    return token.link, _state_of(token.link, timezone.now())


def open_link(*, link: QuestionnaireLink, ip: str | None) -> None:
    """Audit that a patient link was opened (no actor: the token is the key)."""
    record_patient_link(
        "view", clinic_id=link.clinic_id, patient_id=link.patient_id, obj=link, ip=ip
    )


def submit_link(
    *, raw: str, answers: Mapping[str, Sequence[Any]], ip: str | None = None
) -> list[tuple[Response, list[Alert]]]:
    """Record the patient's answers for every questionnaire of a link, then spend the link.

    All or nothing: one questionnaire's error stores none of them and leaves the link
    usable. Errors are named "<instrument>.answers.<item>". A link that is used, expired
    or unknown raises LinkUnavailable with that state.
    """
    link, state = find_link(raw)
    if state != LinkState.VALID or link is None:
        raise LinkUnavailable(state, link)
    definitions = [get_instrument(code) for code in link.instruments]
    now = timezone.now()
    stored: list[tuple[Response, list[Alert]]] = []
    with transaction.atomic():
        # Spend the link first, compare-and-set: a double submit stores nothing twice.
        spent = QuestionnaireLink.objects.filter(
            pk=link.pk, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if spent == 0:
            # Used or expired since find_link read it: say which.
            link.refresh_from_db(fields=["used_at", "expires_at"])
            raise LinkUnavailable(_state_of(link, now), link)
        errors: dict[str, str] = {}
        for definition in definitions:
            try:
                with transaction.atomic():
                    stored.append(
                        _store(
                            clinic=link.clinic,
                            patient=link.patient,
                            instrument=definition,
                            answers=answers.get(definition.code, []),
                            taken_at=now,
                            source=Source.PATIENT_LINK,
                            entered_by_id=None,
                        )
                    )
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    errors[f"{definition.code}.{field}"] = " ".join(messages)
        if errors:
            transaction.set_rollback(True)
            raise ValidationError(errors)
        record_patient_link(
            "create",
            clinic_id=link.clinic_id,
            patient_id=link.patient_id,
            obj=link,
            ip=ip,
            detail={
                "responses": [r.pk for r, _ in stored],
                "alerts": [a.pk for _, alerts in stored for a in alerts],
            },
        )
    return stored


def submit_link_in_portal(
    *, actor: Actor, link: QuestionnaireLink, answers: dict[str, Sequence[Any]]
) -> list[tuple[Response, list[Alert]]]:
    """The signed-in patient answers a due link in the portal: the same scoring, the same
    alerts, the same spending of the link as `submit_link`, audited with the patient as actor.

    The caller has checked that the link is this patient's (the portal's fetcher).
    """
    now = timezone.now()
    stored: list[tuple[Response, list[Alert]]] = []
    with transaction.atomic():
        spent = QuestionnaireLink.objects.filter(
            pk=link.pk, patient_id=link.patient_id, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if spent == 0:
            link.refresh_from_db(fields=["used_at", "expires_at"])
            raise LinkUnavailable(_state_of(link, now), link)
        errors: dict[str, str] = {}
        for code in link.instruments:
            definition = get_instrument(code)
            try:
                with transaction.atomic():
                    stored.append(
                        _store(
                            clinic=link.clinic,
                            patient=link.patient,
                            instrument=definition,
                            answers=answers.get(definition.code, []),
                            taken_at=now,
                            source=Source.PATIENT_LINK,
                            entered_by_id=None,
                        )
                    )
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    errors[f"{definition.code}.{field}"] = " ".join(messages)
        if errors:
            transaction.set_rollback(True)
            raise ValidationError(errors)
        record(
            actor,
            "create",
            patient_id=link.patient_id,
            obj=link,
            detail={
                "responses": [r.pk for r, _ in stored],
                "alerts": [a.pk for _, alerts in stored for a in alerts],
            },
        )
    return stored
