"""Follow-up calls after dosing: the task, each attempt, and what a call can open.

The protocol's ``follow_up_call.after_days`` sets when the call is due (clinic policy,
the day after by default). A call that does not reach the patient leaves the task
open on the work list, with its age; a reached call closes it. New suicidality opens
a measures alert that a person must close and that blocks the next dose (the checklist
reads open ``suicidality`` alerts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.audit.services import record
from ketaclinic.clinical.protocols import Protocol
from ketaclinic.measures.models import Alert, AlertLevel
from ketaclinic.measures.services import notify_physicians
from ketaclinic.patients.restricted import check_chart
from ketaclinic.treatment.models import FollowUpAttempt, FollowUpCall, TreatmentSession

__all__ = [
    "create_follow_up",
    "get_call_for",
    "open_calls",
    "record_attempt",
]

MAX_TEXT = 4000


def create_follow_up(session: TreatmentSession, protocol: Protocol, *, at: datetime) -> None:
    """Create the session's follow-up call when a dose was given and the protocol asks for one.

    Called inside the transaction that ends the session (discharge or stop).
    """
    plan = protocol.follow_up_call
    if plan is None or session.dose_started_at is None:
        return
    local_day = timezone.localdate(at, timezone=session.clinic.tz)
    FollowUpCall.objects.get_or_create(
        session=session,
        defaults={
            "clinic_id": session.clinic_id,
            "patient_id": session.patient_id,
            "due_on": local_day + timedelta(days=plan.after_days),
            "created_at": at,
        },
    )


def open_calls(clinic: Any) -> QuerySet[FollowUpCall]:
    """The clinic's unanswered follow-up calls, oldest due first (two queries with prefetch)."""
    return (
        FollowUpCall.objects.for_clinic(clinic)
        .filter(completed_at__isnull=True)
        .select_related("patient", "session")
        .prefetch_related("attempts")
        .order_by("due_on", "pk")
    )


def get_call_for(actor: Actor, call_id: int | str, action: str = "followup.view") -> FollowUpCall:
    """The follow-up call with this id in the actor's clinic, or 404."""
    found = get_for(
        actor,
        FollowUpCall,
        call_id,
        action,
        related=("patient", "session", "clinic"),
        what="follow-up call",
    )
    check_chart(actor, found.patient)
    return found


def _clean(text: str, field: str) -> str:
    text = (text or "").replace("\x00", "").strip()
    if len(text) > MAX_TEXT:
        raise ValidationError({field: f"Keep this under {MAX_TEXT} characters."})
    return text


def record_attempt(
    *,
    actor: Actor,
    call: FollowUpCall,
    reached: bool,
    suicidality: bool | None = None,
    side_effects: Sequence[str] = (),
    symptoms: str = "",
) -> tuple[FollowUpAttempt, Alert | None]:
    """Record one call attempt; a reached call closes the task. Returns the attempt and any alert.

    Reached calls must say whether new suicidal thoughts were reported; a "yes" opens an
    urgent suicidality alert (the physicians are e-mailed on commit).
    """
    actor.check("followup.call")
    errors: dict[str, str] = {}
    bad = [s for s in side_effects if s not in FollowUpAttempt.SIDE_EFFECTS]
    if bad:
        errors["side_effects"] = "Unknown side effect(s): " + ", ".join(sorted(set(bad))[:5]) + "."
    if reached and suicidality is None:
        errors["suicidality"] = (
            "Say whether the patient reported new thoughts of suicide or self-harm."
        )
    if not reached and (suicidality or side_effects):
        errors["reached"] = "Symptoms can only be recorded when the patient was reached."
    symptoms = _clean(symptoms, "symptoms")
    if "other" in side_effects and not symptoms:
        errors["symptoms"] = "Describe the other side effect."
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    alert = None
    with transaction.atomic():
        locked = FollowUpCall.objects.select_for_update().get(pk=call.pk)
        if locked.completed_at is not None:
            raise ValidationError({"reached": "This follow-up call is already done."})
        attempt = FollowUpAttempt.objects.create(
            call=locked,
            at=now,
            by=actor.user,
            reached=reached,
            suicidality=suicidality if reached else None,
            side_effects=sorted(set(side_effects)),
            symptoms=symptoms,
        )
        if reached:
            locked.completed_at = now
            locked.save(update_fields=["completed_at"])
        if suicidality:
            alert = Alert.objects.create(
                clinic_id=locked.clinic_id,
                patient_id=locked.patient_id,
                response=None,
                origin="Follow-up call",
                code="suicidality",
                level=AlertLevel.URGENT,
                message="New thoughts of suicide or self-harm reported on the follow-up call: "
                "evaluate suicide risk now; no further dose until a person has closed this alert.",
                opened_at=now,
            )
            clinic_id, alert_id = locked.clinic_id, alert.pk
            transaction.on_commit(
                lambda: notify_physicians(clinic_id=clinic_id, alert_ids=[alert_id])
            )
        record(
            actor,
            "follow_up_call",
            patient_id=locked.patient_id,
            obj=attempt,
            detail={
                "call": locked.pk,
                "reached": reached,
                "side_effects": attempt.side_effects,
                **({"alert": alert.pk} if alert else {}),
            },
        )
    return attempt, alert
