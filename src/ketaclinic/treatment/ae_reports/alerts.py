"""Creating the reports and the alerts when a serious adverse event is recorded."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.measures.models import Alert, AlertLevel
from ketaclinic.treatment.models import (
    AdverseEvent,
    AdverseEventReport,
    SessionAlert,
    TreatmentSession,
)

from .forms import ALERT_CODE

# --- creating reports ------------------------------------------------------------------------


def _create(
    *, actor: Actor, event: AdverseEvent, session: TreatmentSession, reason: str, note: str = ""
) -> list[AdverseEventReport]:
    """The event's reports (MedWatch; and REMS for esketamine), created once each."""
    kinds = [AdverseEventReport.Kind.MEDWATCH]
    if session.is_esketamine:
        kinds.append(AdverseEventReport.Kind.REMS)
    now = timezone.now()
    made = []
    for kind in kinds:
        report, created = AdverseEventReport.objects.get_or_create(
            event=event,
            kind=kind,
            defaults={
                "clinic_id": session.clinic_id,
                "reason": reason,
                "reason_note": note[:500],
                "created_by": actor.user,
                "created_at": now,
            },
        )
        if created:
            record(
                actor,
                "ae_report_due",
                patient_id=session.patient_id,
                obj=report,
                detail={"event": event.pk, "kind": kind, "reason": reason},
            )
        made.append(report)
    return made


def serious_event_recorded(*, actor: Actor, session: TreatmentSession, event: AdverseEvent) -> None:
    """A serious event was recorded (inside its transaction): alerts now, reports due.

    The session alert shows at the chair on the board; the measures alert puts it on
    the physicians' alert list until a person closes it. One e-mail goes on commit.
    """
    now = timezone.now()
    what = event.get_type_display()
    SessionAlert.objects.create(
        session=session,
        code=ALERT_CODE,
        level="urgent",
        message=f"Serious adverse event: {what} ({event.get_severity_display().lower()}). "
        "The physician assesses now; the MedWatch report is due.",
        rule_id="serious-adverse-event",
        raised_at=event.onset_at,
    )
    alert = Alert.objects.create(
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        response=None,
        origin=f"Treatment session {session.pk}",
        code=ALERT_CODE,
        level=AlertLevel.URGENT,
        message=f"Serious adverse event in treatment session {session.pk}: {what} "
        f"({event.get_severity_display().lower()}, {event.get_outcome_display().lower()}). "
        "Assess the patient and complete the adverse-event report(s).",
        opened_at=now,
    )
    _create(actor=actor, event=event, session=session, reason=AdverseEventReport.Reason.SERIOUS)
    clinic_id, session_id, event_id, alert_id = session.clinic_id, session.pk, event.pk, alert.pk
    transaction.on_commit(
        lambda: notify(
            clinic_id=clinic_id, session_id=session_id, event_id=event_id, alert_id=alert_id
        )
    )


def notify(*, clinic_id: int, session_id: int, event_id: int, alert_id: int) -> int:
    """E-mail the physicians (ids and a link only); the alert counts as notified once it went."""
    from ketaclinic.treatment.services import notify_serious_event

    sent = notify_serious_event(clinic_id=clinic_id, session_id=session_id, event_id=event_id)
    if sent:
        Alert.objects.filter(pk=alert_id, notified_at__isnull=True).update(
            notified_at=timezone.now()
        )
    return sent


def mark_reportable(
    *, actor: Actor, session: TreatmentSession, event_id: Any, reason: str
) -> list[AdverseEventReport]:
    """A physician marks an event reportable (with the reason): its reports become due."""
    actor.check("medical.sign")
    reason = (reason or "").replace("\x00", "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this event is reported."})
    if len(reason) > 500:
        raise ValidationError({"reason": "Keep the reason under 500 characters."})
    try:
        pk = int(event_id)
    except (TypeError, ValueError):
        raise Http404("No such adverse event.") from None
    with transaction.atomic():
        event = session.adverse_events.select_for_update().filter(pk=pk).first()
        if event is None:
            raise Http404("No such adverse event in this session.")
        if event.reports.exists():
            raise ValidationError({"reason": "This event already has its report(s)."})
        return _create(
            actor=actor,
            event=event,
            session=session,
            reason=AdverseEventReport.Reason.PHYSICIAN,
            note=reason,
        )
