"""Adverse events and the e-mails that tell the clinic's physicians about them and about escalated alerts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record
from ketaclinic.treatment.models import INTERVENTIONS, AdverseEvent, TreatmentSession

from .state import _aware, _claim, _event

log = logging.getLogger(__name__)


def record_adverse_event(
    *,
    actor: Actor,
    session: TreatmentSession,
    type: str,  # noqa: A002 - the field's name in the API
    severity: str,
    outcome: str,
    onset_at: datetime | None = None,
    interventions: Sequence[str] = (),
    drug_given: str = "",
    serious: bool = False,
    note: str = "",
    expected_version: int | None = None,
) -> AdverseEvent:
    """Record an adverse event; a serious one e-mails the clinic's physicians on commit."""
    actor.check("session.chart")
    errors = {}
    if type not in AdverseEvent.Type.values:
        errors["type"] = "Choose a type of event."
    if severity not in AdverseEvent.Severity.values:
        errors["severity"] = "Choose mild, moderate or severe."
    if outcome not in AdverseEvent.Outcome.values:
        errors["outcome"] = "Choose the outcome."
    bad = [i for i in interventions if i not in INTERVENTIONS]
    if bad:
        errors["interventions"] = f"Unknown intervention(s): {', '.join(bad)}."
    if "drug_given" in interventions and not drug_given.strip():
        errors["drug_given"] = "Name the drug and dose given."
    if type == "other" and not note.strip():
        errors["note"] = "Describe the event."
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    onset = _aware(onset_at, "onset_at", now=now)
    with transaction.atomic():
        _claim(session, expected_version)
        event = AdverseEvent.objects.create(
            session=session,
            type=type,
            severity=severity,
            onset_at=onset,
            interventions=list(interventions),
            drug_given=drug_given.strip()[:200],
            outcome=outcome,
            serious=serious,
            note=note.strip(),
            recorded_by=actor.user,
            recorded_at=now,
        )
        _event(
            actor,
            session,
            "adverse_event",
            f"Adverse event: {event.get_type_display()} ({severity}{', serious' if serious else ''})",
            at=onset,
        )
        record(
            actor,
            "adverse_event",
            patient_id=session.patient_id,
            obj=event,
            detail={"type": type, "serious": serious},
        )
        if serious:
            from ketaclinic.treatment.ae_reports import serious_event_recorded

            serious_event_recorded(actor=actor, session=session, event=event)
    return event


def notify_serious_event(*, clinic_id: int, session_id: int, event_id: int) -> int:
    """E-mail the clinic's physicians that a serious adverse event happened (ids only)."""
    return _mail_physicians(
        clinic_id=clinic_id,
        session_id=session_id,
        subject=f"[ketaclinic] Serious adverse event in treatment session {session_id}",
        text=f"A serious adverse event (event id {event_id}) was recorded in treatment "
        f"session {session_id}.",
        what=f"serious adverse event {event_id}",
    )


def notify_escalated_alerts(*, clinic_id: int, session_id: int, alert_ids: Sequence[int]) -> int:
    """E-mail the clinic's physicians again: an alert persisted on its recheck (ids only)."""
    return _mail_physicians(
        clinic_id=clinic_id,
        session_id=session_id,
        subject=f"[ketaclinic] Alert persists on recheck in treatment session {session_id}",
        text=f"An alert in treatment session {session_id} persisted on its recheck and was "
        f"raised to a higher level (alert id {', '.join(str(i) for i in alert_ids)}).",
        what=f"escalated alert(s) {list(alert_ids)}",
    )


def _mail_physicians(*, clinic_id: int, session_id: int, subject: str, text: str, what: str) -> int:
    """E-mail the clinic's physicians a link to the session; the text names ids, never the patient."""
    from ketaclinic.measures.services import base_url

    recipients = sorted(
        {
            m.user.email
            for m in Membership.objects.active()
            .filter(clinic_id=clinic_id, role=Role.PHYSICIAN, user__is_active=True)
            .select_related("user")
            if m.user.email
        }
    )
    if not recipients:
        log.warning("%s: no physician has an e-mail address", what)
        return 0
    link = base_url() + reverse("treatment_session", args=[session_id])
    try:
        send_mail(
            subject=subject,
            message="\n".join([text, "", f"Open the session: {link}"]),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # noqa: BLE001 - the record is stored whatever the mail server does
        log.exception("%s: e-mail failed", what)
        return 0
    return len(recipients)
