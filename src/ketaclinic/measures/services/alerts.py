"""Alerts raised by answers: who is told (by e-mail, with retries), the list, resolving one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Case, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record, record_system
from ketaclinic.measures import hooks
from ketaclinic.measures.models import Alert, AlertAction, AlertLevel, AlertStatus
from ketaclinic.patients.restricted import check_chart

from .config import base_url

log = logging.getLogger(__name__)


MAX_NOTE = 2000


# --------------------------------------------------------------------------- alerts


def _patients_physicians(clinic_id: int, patient_id: int) -> list[int]:
    """User ids of the patient's own physicians, most specific first.

    The prescriber of the patient's course (a current one before a finished one, then
    the newest), then the physician who decided the latest screening. Both belong to
    higher apps, which answer through measures/hooks.py.
    """
    return hooks.patient_physicians(clinic_id, patient_id)


def alert_recipients(*, clinic_id: int, patient_id: int) -> list[str]:
    """E-mail addresses to tell about a patient's alert.

    The patient's own physician when they are an active physician of the clinic with an
    address; otherwise every such physician of the clinic, so an alert never goes unsent
    for want of a care-team record.
    """
    physicians = {
        m.user_id: m.user.email
        for m in Membership.objects.active()
        .filter(clinic_id=clinic_id, role=Role.PHYSICIAN)
        .select_related("user")
        if m.user.email
    }
    for user_id in _patients_physicians(clinic_id, patient_id):
        if user_id in physicians:
            return [physicians[user_id]]
    return sorted(set(physicians.values()))


def notify_physicians(*, clinic_id: int, alert_ids: Sequence[int]) -> int:
    """E-mail the patient's physician about open, not yet notified alerts; returns e-mails sent.

    One e-mail per patient. An alert is marked `notified_at` only once its e-mail went;
    otherwise it stays un-notified and the worker retries (notify_unnotified_alerts).
    The e-mail names alert and patient ids and links to the chart; it never carries the
    patient's name or answers.
    """
    patients = (
        Alert.objects.filter(
            clinic_id=clinic_id, pk__in=alert_ids, status=AlertStatus.OPEN, notified_at__isnull=True
        )
        .values_list("patient_id", flat=True)
        .distinct()
    )
    sent = 0
    for patient_id in sorted(set(patients)):
        # Claimed once: on PostgreSQL the alerts stay locked while their e-mail goes, and a
        # second worker (or the request's own on_commit) skips them instead of sending again.
        # SQLite has one writer at a time: holding it during SMTP would stop every write in
        # the clinic, so there the claim is the notified_at check alone.
        claim = (
            transaction.atomic()
            if connection.features.has_select_for_update_skip_locked
            else nullcontext()
        )
        with claim:
            group = list(
                Alert.objects.select_for_update(skip_locked=True)
                .filter(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    pk__in=alert_ids,
                    status=AlertStatus.OPEN,
                    notified_at__isnull=True,
                )
                .order_by("pk")
            )
            if group and _mail_alerts(clinic_id, patient_id, group):
                sent += 1
    return sent


def _mail_alerts(clinic_id: int, patient_id: int, alerts: list[Alert]) -> bool:
    ids = [a.pk for a in alerts]
    recipients = alert_recipients(clinic_id=clinic_id, patient_id=patient_id)
    if not recipients:
        log.warning("measures alerts %s: no physician has an e-mail address", ids)
        return False
    worst = "An urgent" if any(a.level == AlertLevel.URGENT for a in alerts) else "A high"
    chart = base_url() + reverse("patient_chart", args=[patient_id])
    lines = [
        f"{worst} safety alert is open for patient id {patient_id}.",
        "",
        *[f"Alert {a.pk}: {a.code.replace('_', ' ').capitalize()} ({a.level})" for a in alerts],
        "",
        f"Open the chart: {chart}",
        f"Alert list: {base_url() + reverse('alert_list')}",
        "",
        "The alert stays open until a clinician records the action taken.",
    ]
    try:
        send_mail(
            subject=f"[ketaclinic] {worst.capitalize()} alert open (patient id {patient_id})",
            message="\n".join(lines),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # noqa: BLE001 - the alert is stored and listed whatever the mail server does
        log.exception("measures alerts %s: e-mail to physicians failed; will retry", ids)
        return False
    now = timezone.now()
    with transaction.atomic():
        Alert.objects.filter(pk__in=ids, notified_at__isnull=True).update(notified_at=now)
        record_system(
            "measures.alert_notify",
            clinic=Clinic.objects.get(pk=clinic_id),
            detail={"alerts": ids, "patient": patient_id, "recipients": len(recipients)},
        )
    return True


# The e-mail right after commit gets this long before the worker retries it.
NOTIFY_RETRY_AFTER = timedelta(minutes=2)


def notify_unnotified_alerts(now: datetime | None = None) -> int:
    """The worker's retry: e-mail open alerts whose e-mail has not gone; returns e-mails sent."""
    now = now or timezone.now()
    pending = (
        Alert.objects.filter(
            status=AlertStatus.OPEN,
            notified_at__isnull=True,
            opened_at__lte=now - NOTIFY_RETRY_AFTER,
        )
        .order_by("pk")
        .values_list("clinic_id", "pk")[:500]
    )
    by_clinic: dict[int, list[int]] = {}
    for clinic_id, pk in pending:
        by_clinic.setdefault(clinic_id, []).append(pk)
    return sum(
        notify_physicians(clinic_id=clinic_id, alert_ids=ids)
        for clinic_id, ids in by_clinic.items()
    )


def get_alert_for(actor: Actor, alert_id: int | str, action: str = "clinical.view") -> Alert:
    """The alert with this id in the actor's clinic, or 404; PermissionDenied if the role may not."""
    found = get_for(
        actor,
        Alert,
        alert_id,
        action,
        related=("patient", "response", "resolved_by"),
        what="alert",
    )
    check_chart(actor, found.patient)
    return found


def alerts_for(*, actor: Actor, status: str | None = "open") -> QuerySet[Alert]:
    """The clinic's alerts (open ones by default), most urgent and oldest first."""
    actor.check("clinical.view")
    found = Alert.objects.for_clinic(actor.clinic).select_related(
        "patient", "resolved_by", "response"
    )
    if status:
        if status not in AlertStatus.values:
            raise ValidationError({"status": f"Unknown status {status!r}."})
        found = found.filter(status=status)
    if status == AlertStatus.OPEN:
        # Urgent before high, then the longest-waiting first.
        rank = Case(When(level=AlertLevel.URGENT, then=Value(0)), default=Value(1))
        return found.order_by(rank, "opened_at", "pk")
    return found.order_by("-opened_at", "-pk")


def view_alerts(*, actor: Actor, alerts: Sequence[Alert], what: str = "alert_list") -> None:
    """Record which alerts (and so which patients) the actor was shown."""
    record(
        actor,
        "view",
        object_type="measures.alert",
        detail={
            "view": what,
            "alerts": [a.pk for a in alerts],
            "patients": sorted({a.patient_id for a in alerts}),
        },
    )


def resolve_alert(*, actor: Actor, alert: Alert, action: str, note: str = "") -> Alert:
    """Close an open alert with the action taken and a note; the only way an alert closes."""
    actor.check("alerts.resolve")
    if alert.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This alert belongs to another clinic.")
    if action not in AlertAction.values:
        raise ValidationError({"action": f"Choose one of: {', '.join(AlertAction.values)}."})
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": f"Keep the note under {MAX_NOTE} characters."})
    if action == AlertAction.OTHER and not note:
        raise ValidationError({"note": "Say what was done when the action is 'other'."})
    now = timezone.now()
    with transaction.atomic():
        # Compare-and-set: two clinicians resolving at once cannot both succeed.
        updated = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
            status=AlertStatus.RESOLVED,
            resolved_by=actor.user,
            resolved_at=now,
            action=action,
            note=note,
        )
        if updated == 0:
            raise ValidationError({"status": "This alert is already resolved."})
        record(
            actor,
            "resolve",
            patient_id=alert.patient_id,
            obj=alert,
            detail={"action": action, "code": alert.code, "level": alert.level},
        )
    alert.refresh_from_db()
    return alert
