"""Every write the patient portal makes, and the reads it audits.

The patient acts as an `Actor` whose membership has the `patient` role, so each audit
event names the patient's own account as the actor. Staff-side writes (the invitation,
answering messages, handling requests) take a staff Actor and check the role table.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership, User
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import record
from ketaclinic.integration.models import Homework, JournalEntry
from ketaclinic.measures.models import Alert, AlertLevel, QuestionnaireLink
from ketaclinic.measures.services import base_url, notify_physicians
from ketaclinic.patients.models import Patient
from ketaclinic.portal.models import (
    AppointmentRequest,
    Message,
    PortalAccount,
    PortalInvite,
    RequestKind,
    Thread,
)
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.patient_checkin import PatientCheckin

INVITE_HOURS = 72
TEXT_LIMIT = 4000
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def late_cancel_hours() -> int:
    """The clinic's late-cancellation window: inside it the portal says to call."""
    return int(getattr(settings, "PORTAL_LATE_CANCEL_HOURS", 24))


def crisis_line() -> dict[str, str]:
    """The crisis line shown on every portal page (988 in the US; configurable)."""
    return {
        "number": str(getattr(settings, "PORTAL_CRISIS_NUMBER", "988")),
        "name": str(getattr(settings, "PORTAL_CRISIS_NAME", "Suicide & Crisis Lifeline")),
        "emergency": str(getattr(settings, "PORTAL_EMERGENCY_NUMBER", "911")),
    }


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _text(value: Any, field: str, limit: int, *, required: bool = True) -> str:
    """Plain text of at most `limit` characters, without control characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: "Enter text."})
    cleaned = CONTROL.sub("", value).strip()
    if required and not cleaned:
        raise ValidationError({field: "This field is required."})
    if len(cleaned) > limit:
        raise ValidationError({field: f"Keep it to {limit} characters or fewer."})
    return cleaned


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Invitation:
    account: PortalAccount
    username: str
    expires_at: datetime
    raw: str


def invite(*, actor: Actor, patient: Patient) -> Invitation:
    """Create (or renew) the patient's portal account and e-mail a single-use 72 h link.

    The username is the patient's e-mail. An e-mail that already names another account
    (a staff member, another patient) is refused: one log-in is one person.
    """
    actor.check("portal.invite")
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This patient belongs to another clinic.")
    email = (patient.email or "").strip().lower()
    if not email:
        raise ValidationError({"email": "The patient has no e-mail address on record."})
    now = timezone.now()
    with transaction.atomic():
        account = PortalAccount.objects.select_for_update().filter(patient=patient).first()
        if account is None:
            if User.objects.filter(username__iexact=email).exists():
                raise ValidationError(
                    {"email": "Another account already uses this e-mail address."}
                )
            user = User(username=email, email=email, first_name=patient.given_name)
            user.last_name = patient.family_name
            user.set_unusable_password()
            user.save()
            membership = Membership.objects.create(
                user=user, clinic=actor.clinic, role=Role.PATIENT.value
            )
            account = PortalAccount.objects.create(
                clinic=actor.clinic,
                user=user,
                membership=membership,
                patient=patient,
                invited_by=actor.user,
                created_at=now,
            )
        # A new invitation replaces any earlier one still open.
        PortalInvite.objects.filter(account=account, used_at__isnull=True).update(used_at=now)
        raw = secrets.token_urlsafe(32)
        expires = now + timedelta(hours=INVITE_HOURS)
        PortalInvite.objects.create(
            account=account, token_hash=_hash(raw), created_at=now, expires_at=expires
        )
        record(actor, "portal_invite", patient_id=patient.pk, obj=account)
        clinic_name = actor.clinic.name
        link = base_url() + reverse("portal_invite_accept", args=[raw])
        local = timezone.localtime(expires, actor.clinic.tz)
        body = (
            f"{clinic_name} invites you to its patient portal.\n\n"
            f"Open this link to choose your password (it works once, until "
            f"{local:%d %b %Y %H:%M} {local.tzname()}):\n{link}\n\n"
            f"Your user name is this e-mail address.\n"
        )
        transaction.on_commit(
            lambda: send_mail(
                subject=f"Your patient portal at {clinic_name}",
                message=body,
                from_email=None,
                recipient_list=[email],
            )
        )
    return Invitation(account=account, username=account.user.username, expires_at=expires, raw=raw)


def find_invite(raw: str) -> PortalInvite | None:
    """The open, unexpired invitation for this token, or None."""
    if not raw or len(raw) > 200:
        return None
    return (
        PortalInvite.objects.select_related("account__user", "account__membership__clinic")
        .filter(token_hash=_hash(raw), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def accept_invite(*, raw: str, password: str, confirm: str, ip: str | None) -> PortalAccount:
    """Set the patient's password from an invitation, then spend the invitation."""
    found = find_invite(raw)
    if found is None:
        raise ValidationError({"token": "This link has expired or was already used."})
    account = found.account
    if not isinstance(password, str) or not password:
        raise ValidationError({"password": "Choose a password."})
    if password != confirm:
        raise ValidationError({"confirm": "The two passwords differ."})
    try:
        validate_password(password, account.user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    now = timezone.now()
    with transaction.atomic():
        spent = PortalInvite.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=now)
        if not spent:
            raise ValidationError({"token": "This link has expired or was already used."})
        account.user.set_password(password)
        account.user.save(update_fields=["password"])
        PortalAccount.objects.filter(pk=account.pk).update(activated_at=now)
        actor = Actor(user=account.user, membership=account.membership, ip=ip)
        record(actor, "portal_password_set", patient_id=account.patient_id, obj=account)
    return account


# --------------------------------------------------------------------------- appointments


def patient_status(appointment: Appointment, now: datetime) -> str:
    """What the patient sees: never a staff status (no "no-show", no "in progress")."""
    if appointment.status == "cancelled":
        return "Cancelled"
    if appointment.end <= now or appointment.status == "completed":
        return "Past"
    return "Upcoming"


def may_change(appointment: Appointment, now: datetime) -> bool:
    """True outside the late-cancellation window, for an upcoming appointment."""
    if appointment.status != "booked":
        return False
    return appointment.start - now > timedelta(hours=late_cancel_hours())


def request_change(
    *, actor: Actor, account: PortalAccount, appointment: Appointment, kind: str, note: Any = ""
) -> AppointmentRequest:
    """Ask the front desk to cancel or move an appointment (outside the late window only)."""
    actor.check("portal.use")
    if kind not in RequestKind.values:
        raise ValidationError({"kind": "Choose cancel or reschedule."})
    note = _text(note, "note", 300, required=False)
    now = timezone.now()
    if appointment.patient_id != account.patient_id:
        raise PermissionDenied("Not your appointment.")
    if not may_change(appointment, now):
        raise ValidationError(
            {"kind": "This appointment is too close to change online: please call the clinic."}
        )
    with transaction.atomic():
        pending = AppointmentRequest.objects.filter(
            appointment=appointment, handled_at__isnull=True
        ).first()
        if pending is not None:
            return pending
        made = AppointmentRequest.objects.create(
            clinic_id=account.clinic_id,
            patient_id=account.patient_id,
            appointment=appointment,
            kind=kind,
            note=note,
            created_at=now,
        )
        record(
            actor, "portal_request", patient_id=account.patient_id, obj=made, detail={"kind": kind}
        )
    return made


def handle_request(*, actor: Actor, request: AppointmentRequest) -> AppointmentRequest:
    """The front desk marks a patient's request handled (after calling or rebooking)."""
    actor.check("schedule.book")
    with transaction.atomic():
        updated = AppointmentRequest.objects.filter(
            pk=request.pk, clinic=actor.clinic, handled_at__isnull=True
        ).update(handled_at=timezone.now(), handled_by=actor.user)
        if updated:
            record(actor, "portal_request_handled", patient_id=request.patient_id, obj=request)
    request.refresh_from_db()
    return request


def is_checkin_day(appointment: Appointment, now: datetime) -> bool:
    """Check-in is open on the appointment's day (clinic time) until it ends."""
    tz = appointment.clinic.tz
    return (
        appointment.status in ("booked", "checked_in")
        and timezone.localtime(appointment.start, tz).date() == timezone.localtime(now, tz).date()
        and appointment.end > now
    )


def _clock(value: Any, field: str, day_start: datetime, now: datetime) -> datetime | None:
    """A time of day ("07:30") today in the clinic's zone, not in the future; blank is None."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValidationError({field: "Enter a time like 07:30."})
    hours, minutes = (int(p) for p in value.strip().split(":"))
    if hours > 23 or minutes > 59:
        raise ValidationError({field: "Enter a time like 07:30."})
    when = datetime.combine(day_start.date(), time(hours, minutes), day_start.tzinfo)
    if when > now + timedelta(minutes=5):
        # Last night's dinner is given as a time after now: it was yesterday.
        when -= timedelta(days=1)
    return when


def check_in(
    *, actor: Actor, account: PortalAccount, appointment: Appointment, data: dict[str, Any]
) -> PatientCheckin:
    """Record what the patient reports before today's session (for the nurse to confirm)."""
    actor.check("portal.use")
    if appointment.patient_id != account.patient_id:
        raise PermissionDenied("Not your appointment.")
    now = timezone.now()
    if not is_checkin_day(appointment, now):
        raise ValidationError({"appointment": "Check-in opens on the day of the appointment."})
    escort_name = _text(data.get("escort_name"), "escort_name", 120)
    escort_phone = _text(data.get("escort_phone"), "escort_phone", 40)
    if not re.fullmatch(r"[+0-9 ().\-]{7,40}", escort_phone):
        raise ValidationError({"escort_phone": "Enter a phone number (digits, spaces, + - ( ))."})
    local_now = timezone.localtime(now, appointment.clinic.tz)
    food = _clock(data.get("last_food_at"), "last_food_at", local_now, local_now)
    liquids = _clock(data.get("last_liquids_at"), "last_liquids_at", local_now, local_now)
    benzo = data.get("benzodiazepine_last_12h")
    if benzo in ("yes", True, "true", "on"):
        benzo_taken = True
    elif benzo in ("no", False, "false"):
        benzo_taken = False
    else:
        raise ValidationError(
            {
                "benzodiazepine_last_12h": "Say whether you took a benzodiazepine in the last 12 hours."
            }
        )
    medicines = _text(data.get("new_medicines"), "new_medicines", 1000, required=False)
    with transaction.atomic():
        checkin, _ = PatientCheckin.objects.update_or_create(
            appointment=appointment,
            defaults={
                "clinic_id": account.clinic_id,
                "patient_id": account.patient_id,
                "escort_name": escort_name,
                "escort_phone": escort_phone,
                "last_food_at": food,
                "last_liquids_at": liquids,
                "benzodiazepine_last_12h": benzo_taken,
                "new_medicines": medicines,
                "submitted_at": now,
            },
        )
        record(actor, "portal_checkin", patient_id=account.patient_id, obj=checkin)
    return checkin


# --------------------------------------------------------------------------- questionnaires


def due_links(account: PortalAccount) -> list[QuestionnaireLink]:
    """The patient's questionnaires still to fill in (open, unexpired links)."""
    return list(
        QuestionnaireLink.objects.filter(
            clinic_id=account.clinic_id,
            patient_id=account.patient_id,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).order_by("expires_at", "pk")
    )


# --------------------------------------------------------------------------- homework, journal


def homework_done(*, actor: Actor, account: PortalAccount, homework: Homework) -> Homework:
    """The patient marks a practice done; the therapist sees it on the timeline."""
    actor.check("portal.use")
    if homework.patient_id != account.patient_id:
        raise PermissionDenied("Not your practice.")
    with transaction.atomic():
        locked = Homework.objects.select_for_update().get(pk=homework.pk)
        if locked.done_at is None:
            locked.done_at = timezone.now()
            locked.save(update_fields=["done_at"])
            record(actor, "homework_done", patient_id=locked.patient_id, obj=locked)
    return locked


def write_journal(
    *,
    actor: Actor,
    account: PortalAccount,
    text: Any,
    share: bool = False,
    needs_help: bool = False,
) -> JournalEntry:
    """A new journal entry, private unless the patient shares it now."""
    actor.check("portal.use")
    cleaned = _text(text, "text", TEXT_LIMIT)
    if needs_help and not share:
        raise ValidationError({"needs_help": "Share the entry so the care team can see it."})
    with transaction.atomic():
        entry = JournalEntry.objects.create(
            clinic_id=account.clinic_id, patient_id=account.patient_id, text=cleaned
        )
        record(actor, "journal_entry", patient_id=account.patient_id, obj=entry)
        if share:
            _share(actor, entry, needs_help)
    return entry


def share_journal(
    *, actor: Actor, account: PortalAccount, entry: JournalEntry, needs_help: bool = False
) -> JournalEntry:
    """Share an entry with the care team (it then shows on the therapist's timeline)."""
    actor.check("portal.use")
    if entry.patient_id != account.patient_id:
        raise PermissionDenied("Not your entry.")
    with transaction.atomic():
        locked = JournalEntry.objects.select_for_update().get(pk=entry.pk)
        _share(actor, locked, needs_help)
    return locked


def _share(actor: Actor, entry: JournalEntry, needs_help: bool) -> None:
    changed = []
    if entry.shared_at is None:
        entry.shared_at = timezone.now()
        changed.append("shared_at")
    if needs_help and not entry.needs_help:
        entry.needs_help = True
        changed.append("needs_help")
    if not changed:
        return
    entry.save(update_fields=changed)
    record(
        actor,
        "journal_share",
        patient_id=entry.patient_id,
        obj=entry,
        detail={"needs_help": entry.needs_help},
    )
    if "needs_help" in changed and entry.alert_id is None:
        # The patient asked for help: a person on staff must see and close this. Words in
        # the entry alone never open an alert (no diagnosis from free text).
        alert = Alert.objects.create(
            clinic_id=entry.clinic_id,
            patient_id=entry.patient_id,
            response=None,
            origin="Patient portal journal",
            code="patient_help_request",
            level=AlertLevel.HIGH,
            message="The patient marked a shared journal entry “I need help”: contact them today.",
            opened_at=timezone.now(),
        )
        entry.alert = alert
        entry.save(update_fields=["alert"])
        clinic_id, alert_id = entry.clinic_id, alert.pk
        transaction.on_commit(lambda: notify_physicians(clinic_id=clinic_id, alert_ids=[alert_id]))
        record(
            actor,
            "alert_open",
            patient_id=entry.patient_id,
            obj=alert,
            detail={"journal": entry.pk},
        )


# --------------------------------------------------------------------------- messages


def _notify_patient(account: PortalAccount) -> None:
    # No health details, no names: only that a message is waiting behind the log-in.
    email = account.user.email
    if not email:
        return
    clinic_name = account.clinic.name
    body = (
        f"You have a new message from {clinic_name}.\n\n"
        f"Sign in to the patient portal to read it: {base_url()}{reverse('portal_messages')}\n"
    )
    transaction.on_commit(
        lambda: send_mail(
            subject="You have a new message", message=body, from_email=None, recipient_list=[email]
        )
    )


def start_thread(*, actor: Actor, account: PortalAccount, subject: Any, body: Any) -> Thread:
    """The patient writes to the care team."""
    actor.check("portal.use")
    subject = _text(subject, "subject", 120)
    body = _text(body, "body", TEXT_LIMIT)
    now = timezone.now()
    with transaction.atomic():
        thread = Thread.objects.create(
            clinic_id=account.clinic_id,
            patient_id=account.patient_id,
            subject=subject,
            created_at=now,
            last_message_at=now,
            unread_by_staff=True,
        )
        message = Message.objects.create(
            thread=thread, author=actor.user, from_patient=True, body=body, created_at=now
        )
        record(actor, "portal_message", patient_id=account.patient_id, obj=message)
    return thread


def reply(*, actor: Actor, thread: Thread, body: Any) -> Message:
    """A reply in a thread, by the patient or by staff; it reopens a thread marked done."""
    from_patient = actor.role == Role.PATIENT
    actor.check("portal.use" if from_patient else "messages.record")
    if thread.clinic_id != actor.clinic.pk:
        raise PermissionDenied("Another clinic's thread.")
    body = _text(body, "body", TEXT_LIMIT)
    now = timezone.now()
    with transaction.atomic():
        locked = Thread.objects.select_for_update().get(pk=thread.pk)
        message = Message.objects.create(
            thread=locked, author=actor.user, from_patient=from_patient, body=body, created_at=now
        )
        locked.last_message_at = now
        locked.done_at = None
        if from_patient:
            locked.unread_by_staff = True
        else:
            locked.unread_by_patient = True
        locked.save(
            update_fields=["last_message_at", "done_at", "unread_by_staff", "unread_by_patient"]
        )
        record(actor, "portal_message", patient_id=locked.patient_id, obj=message)
        if not from_patient:
            account = (
                PortalAccount.objects.select_related("user", "clinic")
                .filter(patient_id=locked.patient_id)
                .first()
            )
            if account is not None:
                _notify_patient(account)
    return message


def read_thread(*, actor: Actor, thread: Thread) -> list[Message]:
    """The thread's messages; marks it read for whoever opened it, and audits the read."""
    from_patient = actor.role == Role.PATIENT
    actor.check("portal.use" if from_patient else "messages.view")
    field = "unread_by_patient" if from_patient else "unread_by_staff"
    if getattr(thread, field):
        Thread.objects.filter(pk=thread.pk).update(**{field: False})
    record(actor, "view", patient_id=thread.patient_id, obj=thread, detail={"what": "messages"})
    return list(thread.messages.select_related("author"))


def assign_thread(*, actor: Actor, thread: Thread, membership: Membership | None) -> Thread:
    actor.check("messages.record")
    if membership is not None and (
        membership.clinic_id != actor.clinic.pk or membership.role == Role.PATIENT
    ):
        raise ValidationError({"assignee": "Choose a member of this clinic's staff."})
    with transaction.atomic():
        Thread.objects.filter(pk=thread.pk, clinic=actor.clinic).update(assigned_to=membership)
        record(
            actor,
            "message_assign",
            patient_id=thread.patient_id,
            obj=thread,
            detail={"assignee": membership.pk if membership else None},
        )
    thread.refresh_from_db()
    return thread


def mark_done(*, actor: Actor, thread: Thread) -> Thread:
    actor.check("messages.record")
    with transaction.atomic():
        Thread.objects.filter(pk=thread.pk, clinic=actor.clinic).update(
            done_at=timezone.now(), unread_by_staff=False
        )
        record(actor, "message_done", patient_id=thread.patient_id, obj=thread)
    thread.refresh_from_db()
    return thread


def audit_read(actor: Actor, account: PortalAccount, what: str) -> None:
    """Audit a portal page or API read of the patient's own record."""
    record(actor, "view", patient_id=account.patient_id, detail={"what": f"portal_{what}"})
