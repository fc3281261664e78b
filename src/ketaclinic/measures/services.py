"""Measurement-based care: record and score responses, open and resolve alerts, patient links.

Every write owns its transaction and writes its audit event inside it; e-mail goes out
only after the transaction commits (transaction.on_commit), and never carries patient
data: e-mails name ids and a URL, nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Case, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone

from ketaclinic import links
from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record, record_patient_link, record_system
from ketaclinic.clinical.instruments import AnswerError, Instrument, score
from ketaclinic.clinical.outcomes import OutcomeSummary, summarize
from ketaclinic.measures.models import (
    Alert,
    AlertAction,
    AlertLevel,
    AlertStatus,
    LinkToken,
    QuestionnaireLink,
    Response,
    Schedule,
    ScheduleKind,
    Source,
)
from ketaclinic.measures.registry import get_instrument, has_total, patient_may_fill
from ketaclinic.patients.changes import patient_changed
from ketaclinic.patients.models import Patient
from ketaclinic.patients.restricted import check_chart

log = logging.getLogger(__name__)

# Alerts at these levels must be closed by a person; lower levels are shown with the score only.
STORED_ALERT_LEVELS = frozenset(AlertLevel.values)
# A response may be dated a little ahead of the server clock (a tablet's clock drifts).
FUTURE_SKEW = timedelta(minutes=5)
MAX_NOTE = 2000


def link_hours() -> int:
    """Hours a questionnaire link stays valid (settings.KETACLINIC_LINK_HOURS, default 72)."""
    return int(getattr(settings, "KETACLINIC_LINK_HOURS", 72))


def link_reminders() -> int:
    """Reminders sent before a link expires (settings.KETACLINIC_LINK_REMINDERS, default 2)."""
    return int(getattr(settings, "KETACLINIC_LINK_REMINDERS", 2))


def base_url() -> str:
    """The address staff and patients reach the server at, for links in e-mails."""
    return links.base_url()


# --------------------------------------------------------------------------- responses


def _answer_error(exc: AnswerError) -> ValidationError:
    field = "answers" if exc.item == "answers" else f"answers.{exc.item}"
    return ValidationError({field: exc.message})


def _taken_at(clinic: Clinic, taken_at: datetime | None, now: datetime) -> datetime:
    if taken_at is None:
        return now
    if timezone.is_naive(taken_at):
        # A time without an offset is read in the clinic's own time zone.
        taken_at = timezone.make_aware(taken_at, clinic.tz)
    if taken_at > now + FUTURE_SKEW:
        raise ValidationError(
            {"taken_at": "The time a questionnaire was taken cannot be in the future."}
        )
    return taken_at


def _store(
    *,
    clinic: Clinic,
    patient: Patient,
    instrument: Instrument,
    answers: Sequence[Any],
    taken_at: datetime,
    source: str,
    entered_by_id: int | None,
) -> tuple[Response, list[Alert]]:
    """Score and save one response and open its alerts (caller holds the transaction)."""
    try:
        result = score(instrument, answers)
    except AnswerError as exc:
        raise _answer_error(exc) from None
    response = Response.objects.create(
        clinic=clinic,
        patient=patient,
        instrument=instrument.code,
        version=instrument.version,
        answers=list(answers),
        total=result.total,
        severity=result.severity or "",
        severity_label=result.severity_label or "",
        subscores=dict(result.subscores),
        prorated=result.prorated,
        missing_items=list(result.missing_items),
        provisional_diagnosis=result.provisional_diagnosis,
        above_cutoff=result.above_cutoff,
        taken_at=taken_at,
        entered_by_id=entered_by_id,
        source=source,
    )
    patient_changed(patient.pk)
    response.score = result  # type: ignore[attr-defined]
    opened = [
        Alert.objects.create(
            clinic=clinic,
            patient=patient,
            response=response,
            code=a.code,
            level=a.level,
            message=a.message,
            opened_at=timezone.now(),
        )
        for a in result.alerts
        if a.level in STORED_ALERT_LEVELS
    ]
    if opened:
        alert_ids = [a.pk for a in opened]
        transaction.on_commit(lambda: notify_physicians(clinic_id=clinic.pk, alert_ids=alert_ids))
    return response, opened


def record_response(
    *,
    actor: Actor,
    patient: Patient,
    instrument: str,
    answers: Sequence[Any],
    taken_at: datetime | None = None,
    source: str = Source.CLINICIAN,
) -> tuple[Response, list[Alert]]:
    """Score and store a response entered by staff; returns it and the alerts it opened.

    A wrong number of answers, an answer outside an item's options or a disallowed skip
    raises ValidationError naming the item ("answers.4"), and nothing is stored.
    """
    actor.check("measures.record")
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This patient belongs to another clinic.")
    if source not in Source.values:
        raise ValidationError({"source": f"Unknown source {source!r}."})
    definition = get_instrument(instrument)
    now = timezone.now()
    when = _taken_at(actor.clinic, taken_at, now)
    with transaction.atomic():
        response, opened = _store(
            clinic=actor.clinic,
            patient=patient,
            instrument=definition,
            answers=answers,
            taken_at=when,
            source=source,
            entered_by_id=actor.user.pk,
        )
        record(
            actor,
            "create",
            patient_id=patient.pk,
            obj=response,
            detail={
                "instrument": definition.key,
                "source": source,
                "alerts": [a.pk for a in opened],
            },
        )
    return response, opened


def responses_for(
    *, actor: Actor, patient: Patient, instrument: str | None = None
) -> QuerySet[Response]:
    """The patient's responses, newest first (the caller audits what it shows)."""
    actor.check("clinical.view")
    found = Response.objects.for_clinic(actor.clinic).filter(patient=patient)
    if instrument:
        found = found.filter(instrument=instrument)
    return found.order_by("-taken_at", "-pk")


def view_measures(*, actor: Actor, patient: Patient, what: str, ids: Sequence[int] = ()) -> None:
    """Record that the actor read this patient's measures (which view, which responses)."""
    detail: dict[str, Any] = {"view": what}
    if ids:
        detail["responses"] = list(ids)
    record(actor, "view", patient_id=patient.pk, object_type="measures.response", detail=detail)


# --------------------------------------------------------------------------- alerts


def _patients_physicians(clinic_id: int, patient_id: int) -> list[int]:
    """User ids of the patient's own physicians, most specific first.

    The prescriber of the patient's course (a current one before a finished one, then
    the newest), then the physician who decided the latest screening. Both models
    belong to higher apps, so they are looked up by name, never imported.
    """
    found: list[int] = []
    try:
        courses = apps.get_model("scheduling", "TreatmentCourse")
        current = Case(
            When(status__in=["active", "paused", "planned"], then=Value(0)), default=Value(1)
        )
        prescriber = (
            courses.objects.filter(clinic_id=clinic_id, patient_id=patient_id)
            .order_by(current, "-created_at", "-pk")
            .values_list("prescriber_id", flat=True)
            .first()
        )
        if prescriber is not None:
            found.append(prescriber)
    except LookupError:
        pass
    try:
        screenings = apps.get_model("screening", "Screening")
        decider = (
            screenings.objects.filter(
                clinic_id=clinic_id, patient_id=patient_id, decided_by__isnull=False
            )
            .order_by("-decided_at", "-pk")
            .values_list("decided_by_id", flat=True)
            .first()
        )
        if decider is not None:
            found.append(decider)
    except LookupError:
        pass
    return found


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


# --------------------------------------------------------------------------- outcomes


def first_treatment_at(patient: Patient) -> datetime | None:
    """When the patient's first dose was given, or None (then the baseline is the first score).

    The baseline is the last score before the first treatment session (DOMAIN.md §6.1).
    This is the one place that decides it; outcomes and charts both ask here. Sessions
    belong to a higher app, so the model is looked up by name rather than imported.
    """
    return _dose_times(patient).first()


def treatment_times(patient: Patient) -> list[datetime]:
    """When each of the patient's treatment doses started, oldest first (one query; for charts)."""
    return list(_dose_times(patient))


def _dose_times(patient: Patient) -> QuerySet[Any]:
    sessions = apps.get_model("treatment", "TreatmentSession")
    return (
        sessions.objects.filter(
            clinic_id=patient.clinic_id, patient_id=patient.pk, dose_started_at__isnull=False
        )
        .order_by("dose_started_at")
        .values_list("dose_started_at", flat=True)
    )


@dataclass(frozen=True)
class InstrumentSeries:
    """One instrument's totals for a patient, oldest first, and its outcome summary."""

    instrument: Instrument
    points: list[tuple[datetime, int]]
    summary: OutcomeSummary | None


def series_for(
    points: Sequence[tuple[str, datetime, int]], started: datetime | None
) -> list[InstrumentSeries]:
    """Group (instrument, taken_at, total) rows into per-instrument series with summaries.

    `started` is the patient's first_treatment_at (None before any treatment).
    """
    from ketaclinic.measures.registry import instruments

    loaded = instruments()
    grouped: dict[str, list[tuple[datetime, int]]] = {}
    for code, at, total in points:
        grouped.setdefault(code, []).append((at, total))
    result = []
    for code in sorted(grouped):
        definition = loaded.get(code)
        if definition is None or not has_total(definition):
            continue
        low, high = definition.score_range()
        series = sorted(
            ((at, total) for at, total in grouped[code] if low <= total <= high), key=lambda p: p[0]
        )
        summary = summarize(definition, series, started) if series else None
        result.append(InstrumentSeries(definition, series, summary))
    return result


def totals_for(patient: Patient, instrument: str | None = None) -> list[tuple[str, datetime, int]]:
    """Every scored total of the patient (of one instrument if named), in one query."""
    responses = Response.objects.filter(
        clinic_id=patient.clinic_id, patient=patient, total__isnull=False
    )
    if instrument is not None:
        responses = responses.filter(instrument=instrument)
    return list(responses.order_by("taken_at", "pk").values_list("instrument", "taken_at", "total"))


def outcomes_for(*, actor: Actor, patient: Patient) -> list[dict[str, Any]]:
    """Baseline, latest, change, response and remission per instrument, as the API answers."""
    actor.check("clinical.view")
    rows = []
    for s in series_for(totals_for(patient), first_treatment_at(patient)):
        if s.summary is None:
            continue
        rows.append(
            {
                "instrument": s.instrument.code,
                "baseline": s.summary.baseline.total,
                "baseline_before_treatment": s.summary.baseline_before_treatment,
                "latest": s.summary.latest.total,
                "change": s.summary.change,
                "percent_change": s.summary.percent_change,
                "response": s.summary.response,
                "remission": s.summary.remission,
                "count": s.summary.count,
            }
        )
    view_measures(actor=actor, patient=patient, what="outcomes")
    return rows


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
    *, raw: str, answers: dict[str, Sequence[Any]], ip: str | None = None
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


# --------------------------------------------------------------------------- schedules


def add_schedule(
    *,
    actor: Actor,
    patient: Patient,
    instruments: Sequence[str],
    kind: str,
    every_days: int | None = None,
) -> Schedule:
    """Start sending a bundle every N days, or 24 h before every appointment."""
    actor.check("measures.send")
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This patient belongs to another clinic.")
    bundle = _check_bundle(instruments)
    if kind not in ScheduleKind.values:
        raise ValidationError({"kind": f"Choose one of: {', '.join(ScheduleKind.values)}."})
    if kind == ScheduleKind.EVERY_N_DAYS:
        if (
            not isinstance(every_days, int)
            or isinstance(every_days, bool)
            or not 1 <= every_days <= 365
        ):
            raise ValidationError({"every_days": "Give a whole number of days from 1 to 365."})
    else:
        every_days = None
    now = timezone.now()
    with transaction.atomic():
        schedule = Schedule.objects.create(
            clinic=actor.clinic,
            patient=patient,
            instruments=bundle,
            kind=kind,
            every_days=every_days,
            # The first questionnaire goes out on the worker's next pass.
            next_due_at=now if kind == ScheduleKind.EVERY_N_DAYS else None,
            created_by=actor.user,
        )
        record(
            actor,
            "create",
            patient_id=patient.pk,
            obj=schedule,
            detail={"kind": kind, "every_days": every_days, "instruments": bundle},
        )
    return schedule


def stop_schedule(*, actor: Actor, schedule: Schedule) -> None:
    """Stop a schedule (kept for the record)."""
    actor.check("measures.send")
    if schedule.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This schedule belongs to another clinic.")
    with transaction.atomic():
        Schedule.objects.filter(pk=schedule.pk).update(is_active=False)
        record(
            actor,
            "update",
            patient_id=schedule.patient_id,
            obj=schedule,
            detail={"is_active": False},
        )


def send_before_appointment(*, patient: Patient, now: datetime) -> int:
    """Send the patient's "before every appointment" questionnaires; returns links sent.

    Scheduling calls this 24 h before each booked appointment (it owns the appointments);
    a schedule whose last link is still open is not sent again.
    """
    sent = 0
    schedules = Schedule.objects.filter(
        patient=patient, is_active=True, kind=ScheduleKind.BEFORE_APPOINTMENT
    ).select_related("patient", "clinic")
    for schedule in schedules:
        with transaction.atomic():
            if _send_scheduled(schedule, now):
                sent += 1
    return sent


def _send_scheduled(schedule: Schedule, now: datetime) -> bool:
    patient = schedule.patient
    if not patient.email:
        return False
    pending = QuestionnaireLink.objects.filter(
        schedule=schedule, used_at__isnull=True, expires_at__gt=now
    ).exists()
    if pending:
        return False  # the last one is still open: do not pile links up
    link, raw = _new_link(
        clinic=schedule.clinic,
        patient=patient,
        bundle=list(schedule.instruments),
        now=now,
        sent_by_id=None,
        schedule=schedule,
    )
    record_system(
        "measures.link_send",
        clinic=schedule.clinic,
        detail={"link": link.pk, "patient": patient.pk, "schedule": schedule.pk},
    )
    _mail_link(link, raw, schedule.clinic.name, patient.email, reminder=False)
    return True


def _remind(link: QuestionnaireLink, now: datetime) -> bool:
    """Send a reminder with a fresh token; the tokens sent before stay valid beside it.

    Only hashes are stored, so the reminder cannot repeat the first token; it adds one.
    """
    if not link.patient.email:
        return False
    updated = QuestionnaireLink.objects.filter(
        pk=link.pk, used_at__isnull=True, reminders_sent=link.reminders_sent
    ).update(reminders_sent=link.reminders_sent + 1, last_sent_at=now)
    if not updated:
        return False
    raw = _new_token(link, now)
    record_system(
        "measures.link_remind",
        clinic=link.clinic,
        detail={"link": link.pk, "patient": link.patient_id, "reminder": link.reminders_sent + 1},
    )
    _mail_link(link, raw, link.clinic.name, link.patient.email, reminder=True)
    return True


def reminder_due(link: QuestionnaireLink, now: datetime, reminders: int | None = None) -> bool:
    """True when an unused link is due its next reminder.

    Reminders are spread evenly over the link's life: with 2 reminders on a 72 h link
    they go at 24 h and 48 h; after the last one the link simply expires.
    """
    count = link_reminders() if reminders is None else reminders
    if link.used_at is not None or link.expires_at <= now or link.reminders_sent >= count:
        return False
    step = (link.expires_at - link.created_at) / (count + 1)
    return now >= link.created_at + step * (link.reminders_sent + 1)


def send_due_questionnaires(now: datetime | None = None) -> int:
    """The worker's periodic pass: scheduled links and reminders; returns e-mails queued."""
    now = now or timezone.now()
    sent = 0
    due = (
        Schedule.objects.filter(
            is_active=True, kind=ScheduleKind.EVERY_N_DAYS, next_due_at__lte=now
        )
        .select_related("patient", "clinic")
        .order_by("next_due_at")[:500]
    )
    for schedule in due:
        with transaction.atomic():
            # Claim this due time (compare-and-set) so two workers never send twice.
            step = timedelta(days=schedule.every_days or 1)
            following = schedule.next_due_at + step
            while following <= now:
                following += step
            claimed = Schedule.objects.filter(
                pk=schedule.pk, next_due_at=schedule.next_due_at, is_active=True
            ).update(next_due_at=following)
            if claimed and _send_scheduled(schedule, now):
                sent += 1
    count = link_reminders()
    pending = (
        QuestionnaireLink.objects.filter(
            used_at__isnull=True, expires_at__gt=now, reminders_sent__lt=count
        )
        .select_related("patient", "clinic")
        .order_by("pk")[:1000]
    )
    for link in pending:
        if reminder_due(link, now, count):
            with transaction.atomic():
                if _remind(link, now):
                    sent += 1
    return sent
