"""Progress notes (the record) and psychotherapy notes (kept apart, read by their author).

Psychotherapy notes (HIPAA 45 CFR 164.501) are fetched only by the functions here that
filter on ``author = actor.user``: another therapist, a physician, an admin, the front
desk, the patient, FHIR and every export never read them (164.508(a)(2), 164.524(a)(1)(i)).
Every read and write of one is audited with its id, never its text. A release needs the
patient's authorization (date, scope, recipient, expiry) and is recorded by the author.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.integration.models import (
    Circle,
    CircleSeat,
    NoteAmendment,
    NoteTemplate,
    ProgressNote,
    PsychotherapyNote,
    PsychotherapyRelease,
    Risk,
)
from ketaclinic.measures.models import Alert, AlertLevel
from ketaclinic.measures.services import notify_physicians
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import THERAPY_KINDS, Appointment

MAX_TEXT = 20000
MAX_FIELD = 4000
TEMPLATE_FIELDS = {
    "dap": ("data", "assessment", "plan"),
    "soap": ("subjective", "objective", "assessment", "plan"),
}
# Structured fields every template has (issue 15).
COMMON_FIELDS = ("themes", "coping", "homework")
FIELD_LABELS = {
    "data": "Data (what was observed and said)",
    "assessment": "Assessment",
    "plan": "Plan",
    "subjective": "Subjective (the patient's account)",
    "objective": "Objective (observations)",
    "themes": "Themes from the dosing experience",
    "coping": "Coping",
    "homework": "Homework",
}


def _clean(value: Any, field: str, limit: int = MAX_FIELD) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: "Give text."})
    if "\x00" in value:
        raise ValidationError({field: "This contains a character that cannot be stored."})
    value = value.strip()
    if len(value) > limit:
        raise ValidationError({field: f"Keep this under {limit} characters."})
    return value


# A plausibility cap on one session's documented face-to-face time (four hours), not a
# clinical threshold: the billing bands themselves are in billing/rules/coding.yaml.
MAX_PSYCHOTHERAPY_MINUTES = 240
MINUTES_ERROR = (
    f"Give the face-to-face psychotherapy time in whole minutes, 1 to {MAX_PSYCHOTHERAPY_MINUTES}."
)


def clean_minutes(value: Any) -> int | None:
    """Documented psychotherapy minutes: None when not given, else a whole number 1-240."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValidationError({"psychotherapy_minutes": MINUTES_ERROR})
    try:
        minutes = int(value) if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise ValidationError({"psychotherapy_minutes": MINUTES_ERROR}) from None
    if not 0 < minutes <= MAX_PSYCHOTHERAPY_MINUTES:
        raise ValidationError({"psychotherapy_minutes": MINUTES_ERROR})
    return minutes


def clean_fields(template: str, fields: Any) -> tuple[dict[str, str], str]:
    """Validate a note's structured fields; returns (fields, risk)."""
    if template not in TEMPLATE_FIELDS:
        raise ValidationError({"template": "Choose dap or soap."})
    if not isinstance(fields, dict):
        raise ValidationError({"fields": "Give the note's fields as an object."})
    allowed = (*TEMPLATE_FIELDS[template], *COMMON_FIELDS)
    unknown = sorted(str(k)[:40] for k in fields if k not in (*allowed, "risk"))
    if unknown:
        raise ValidationError(
            {"fields": f"Unknown field(s) for {template}: {', '.join(unknown[:5])}."}
        )
    risk = fields.get("risk") or Risk.NONE
    if risk not in Risk.values:
        raise ValidationError({"risk": "Choose none, chronic or new_si."})
    cleaned = {key: _clean(fields.get(key), key) for key in allowed}
    return {k: v for k, v in cleaned.items() if v}, risk


def _session_for(
    actor: Actor,
    patient: Patient,
    appointment: Appointment | int | None,
    circle: Circle | int | None,
) -> tuple[Appointment | None, Circle | None]:
    found_appointment = found_circle = None
    if appointment is not None:
        pk = appointment.pk if isinstance(appointment, Appointment) else appointment
        found_appointment = (
            Appointment.objects.for_clinic(actor.clinic)
            .filter(pk=pk, patient=patient, kind__in=THERAPY_KINDS)
            .first()
        )
        if found_appointment is None:
            raise ValidationError(
                {"appointment": "Choose one of this patient's preparation or integration sessions."}
            )
    if circle is not None:
        pk = circle.pk if isinstance(circle, Circle) else circle
        found_circle = Circle.objects.for_clinic(actor.clinic).filter(pk=pk).first()
        if (
            found_circle is None
            or not CircleSeat.objects.filter(circle=found_circle, patient=patient).exists()
        ):
            raise ValidationError({"circle": "Choose a circle this patient is in."})
    if found_appointment is not None and found_circle is not None:
        raise ValidationError({"circle": "A note belongs to one session or one circle."})
    return found_appointment, found_circle


def _open_risk_alert(actor: Actor, note: ProgressNote) -> None:
    """A risk statement opens the same suicidality alert as a questionnaire item."""
    now = timezone.now()
    alert = Alert.objects.create(
        clinic_id=note.clinic_id,
        patient_id=note.patient_id,
        response=None,
        origin="Integration progress note",
        code="suicidality",
        level=AlertLevel.URGENT,
        message="New suicidal ideation recorded in an integration session: evaluate suicide "
        "risk now; no further dose until a person has closed this alert.",
        opened_at=now,
    )
    note.alert = alert
    note.save(update_fields=["alert"])
    clinic_id, alert_id = note.clinic_id, alert.pk
    transaction.on_commit(lambda: notify_physicians(clinic_id=clinic_id, alert_ids=[alert_id]))
    record(actor, "alert_open", patient_id=note.patient_id, obj=alert, detail={"note": note.pk})


# --- progress notes -----------------------------------------------------------------


def progress_notes(actor: Actor, patient: Patient) -> QuerySet[ProgressNote]:
    actor.check("integration.view")
    return (
        ProgressNote.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("author", "appointment", "circle")
    )


def get_progress_note(actor: Actor, note_id: int | str) -> ProgressNote:
    actor.check("integration.view")
    try:
        pk = int(note_id)
    except (TypeError, ValueError):
        raise Http404("No such note.") from None
    found = (
        ProgressNote.objects.for_clinic(actor.clinic)
        .select_related("author", "patient", "appointment", "circle", "alert")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404("No such note in this clinic.")
    return found


@transaction.atomic
def create_progress_note(
    *,
    actor: Actor,
    patient: Patient,
    template: str,
    fields: Any,
    text: str = "",
    appointment: Appointment | int | None = None,
    circle: Circle | int | None = None,
    sign: bool = False,
    psychotherapy_minutes: Any = None,
) -> ProgressNote:
    actor.check("integration.note")
    cleaned, risk = clean_fields(template, fields)
    minutes = clean_minutes(psychotherapy_minutes)
    text = _clean(text, "text", MAX_TEXT)
    if not cleaned and not text:
        raise ValidationError({"text": "Write the note: at least one field or the text."})
    found_appointment, found_circle = _session_for(actor, patient, appointment, circle)
    now = timezone.now()
    note = ProgressNote.objects.create(
        clinic=actor.clinic,
        patient=patient,
        appointment=found_appointment,
        circle=found_circle,
        author=actor.user,
        template=template,
        fields=cleaned,
        risk=risk,
        text=text,
        psychotherapy_minutes=minutes,
        created_at=now,
        updated_at=now,
        signed_at=now if sign else None,
    )
    record(
        actor,
        "progress_note_create",
        patient_id=patient.pk,
        obj=note,
        detail={"template": template, "risk": risk, "signed": sign},
    )
    if risk == Risk.NEW_SI:
        _open_risk_alert(actor, note)
    return note


def _own_unsigned(actor: Actor, note: ProgressNote) -> ProgressNote:
    actor.check("integration.note")
    locked = ProgressNote.objects.select_for_update().get(pk=note.pk)
    if locked.author_id != actor.user.pk:
        raise ValidationError({"note": "Only the note's author can change or sign it."})
    if locked.signed_at is not None:
        raise ValidationError({"note": "This note is signed: add an amendment instead."})
    return locked


@transaction.atomic
def update_progress_note(
    *,
    actor: Actor,
    note: ProgressNote,
    fields: Any,
    text: str = "",
    psychotherapy_minutes: Any = None,
) -> ProgressNote:
    locked = _own_unsigned(actor, note)
    cleaned, risk = clean_fields(locked.template, fields)
    minutes = clean_minutes(psychotherapy_minutes)
    text = _clean(text, "text", MAX_TEXT)
    if not cleaned and not text:
        raise ValidationError({"text": "Write the note: at least one field or the text."})
    locked.fields, locked.text, locked.updated_at = cleaned, text, timezone.now()
    locked.psychotherapy_minutes = minutes
    new_risk = risk == Risk.NEW_SI and locked.alert_id is None
    locked.risk = risk
    locked.save(update_fields=["fields", "text", "risk", "psychotherapy_minutes", "updated_at"])
    record(actor, "progress_note_edit", patient_id=locked.patient_id, obj=locked)
    if new_risk:
        _open_risk_alert(actor, locked)
    return locked


@transaction.atomic
def sign_progress_note(*, actor: Actor, note: ProgressNote) -> ProgressNote:
    locked = _own_unsigned(actor, note)
    locked.signed_at = timezone.now()
    locked.save(update_fields=["signed_at"])
    record(actor, "progress_note_sign", patient_id=locked.patient_id, obj=locked)
    return locked


@transaction.atomic
def amend_progress_note(
    *, actor: Actor, note: ProgressNote, reason: str, text: str
) -> NoteAmendment:
    """Amend a signed note; the original stays as it was signed."""
    actor.check("integration.note")
    locked = ProgressNote.objects.select_for_update().get(pk=note.pk)
    if locked.author_id != actor.user.pk:
        raise ValidationError({"note": "Only the note's author can amend it."})
    if locked.signed_at is None:
        raise ValidationError({"note": "An unsigned note is edited, not amended."})
    reason = _clean(reason, "reason", 300)
    text = _clean(text, "text", MAX_TEXT)
    if not reason:
        raise ValidationError({"reason": "Say why the note is amended."})
    if not text:
        raise ValidationError({"text": "Write the amendment."})
    amendment = NoteAmendment.objects.create(
        note=locked, author=actor.user, reason=reason, text=text
    )
    record(
        actor,
        "progress_note_amend",
        patient_id=locked.patient_id,
        obj=locked,
        detail={"amendment": amendment.pk},
    )
    return amendment


def notes_due(actor: Actor, limit: int = 50) -> list[ProgressNote]:
    """The actor's unsigned progress notes, oldest first."""
    return list(
        ProgressNote.objects.for_clinic(actor.clinic)
        .filter(author=actor.user, signed_at__isnull=True)
        .select_related("patient")
        .order_by("created_at", "pk")[:limit]
    )


# --- psychotherapy notes ------------------------------------------------------------


def own_psychotherapy_notes(
    actor: Actor, patient: Patient | None = None
) -> QuerySet[PsychotherapyNote]:
    """The actor's own psychotherapy notes (never anyone else's), newest first."""
    actor.check("psychotherapy.note")
    rows = PsychotherapyNote.objects.filter(clinic=actor.clinic, author=actor.user)
    if patient is not None:
        rows = rows.filter(patient=patient)
    return rows.select_related("patient")


def get_own_psychotherapy_note(actor: Actor, note_id: int | str) -> PsychotherapyNote:
    """The actor's own note, or 404 (for every other reader, admin included)."""
    if not actor.may("psychotherapy.note"):
        raise Http404("No such note.")
    try:
        pk = int(note_id)
    except (TypeError, ValueError):
        raise Http404("No such note.") from None
    found = (
        PsychotherapyNote.objects.filter(clinic=actor.clinic, author=actor.user, pk=pk)
        .select_related("patient")
        .first()
    )
    if found is None:
        raise Http404("No such note.")
    return found


def audit_read(actor: Actor, note: PsychotherapyNote) -> None:
    record(actor, "psychotherapy_note_view", patient_id=note.patient_id, obj=note)


@transaction.atomic
def write_psychotherapy_note(
    *,
    actor: Actor,
    patient: Patient,
    text: str,
    appointment: Appointment | int | None = None,
    circle: Circle | int | None = None,
) -> PsychotherapyNote:
    actor.check("psychotherapy.note")
    text = _clean(text, "text", MAX_TEXT)
    if not text:
        raise ValidationError({"text": "Write the note."})
    found_appointment, found_circle = _session_for(actor, patient, appointment, circle)
    now = timezone.now()
    note = PsychotherapyNote.objects.create(
        clinic=actor.clinic,
        patient=patient,
        author=actor.user,
        appointment=found_appointment,
        circle=found_circle,
        text=text,
        created_at=now,
        updated_at=now,
    )
    record(actor, "psychotherapy_note_write", patient_id=patient.pk, obj=note)
    return note


@transaction.atomic
def edit_psychotherapy_note(
    *, actor: Actor, note: PsychotherapyNote, text: str
) -> PsychotherapyNote:
    own = get_own_psychotherapy_note(actor, note.pk)
    text = _clean(text, "text", MAX_TEXT)
    if not text:
        raise ValidationError({"text": "Write the note."})
    own.text, own.updated_at = text, timezone.now()
    own.save(update_fields=["text", "updated_at"])
    record(actor, "psychotherapy_note_write", patient_id=own.patient_id, obj=own)
    return own


@transaction.atomic
def release_psychotherapy_note(
    *,
    actor: Actor,
    note: PsychotherapyNote,
    authorized_on: date | None,
    scope: str,
    recipient: str,
    expires_on: date | None,
) -> PsychotherapyRelease:
    """Record the patient's authorization (164.508(a)(2)) under which the author releases it."""
    own = get_own_psychotherapy_note(actor, note.pk)
    today = actor.clinic.today()
    errors: dict[str, str] = {}
    scope = _clean(scope, "scope", 300)
    recipient = _clean(recipient, "recipient", 200)
    if authorized_on is None:
        errors["authorized_on"] = "Give the date the patient signed the authorization."
    elif authorized_on > today:
        errors["authorized_on"] = "The authorization cannot be signed in the future."
    if expires_on is None:
        errors["expires_on"] = "Give the authorization's expiry date."
    elif expires_on < today:
        errors["expires_on"] = "This authorization has expired: a release needs a current one."
    elif authorized_on is not None and expires_on < authorized_on:
        errors["expires_on"] = "The expiry is before the signature."
    if not scope:
        errors["scope"] = "Say what the patient authorized (which notes, for what purpose)."
    if not recipient:
        errors["recipient"] = "Name who receives the note."
    if errors:
        raise ValidationError(errors)
    assert authorized_on is not None and expires_on is not None  # refused above when missing
    release = PsychotherapyRelease.objects.create(
        note=own,
        authorized_on=authorized_on,
        scope=scope,
        recipient=recipient,
        expires_on=expires_on,
        recorded_by=actor.user,
    )
    record(
        actor,
        "psychotherapy_note_release",
        patient_id=own.patient_id,
        obj=own,
        detail={"release": release.pk},
    )
    return release


__all__ = [
    "COMMON_FIELDS",
    "FIELD_LABELS",
    "TEMPLATE_FIELDS",
    "NoteTemplate",
    "MAX_PSYCHOTHERAPY_MINUTES",
    "amend_progress_note",
    "audit_read",
    "clean_fields",
    "clean_minutes",
    "create_progress_note",
    "edit_psychotherapy_note",
    "get_own_psychotherapy_note",
    "get_progress_note",
    "notes_due",
    "own_psychotherapy_notes",
    "progress_notes",
    "release_psychotherapy_note",
    "sign_progress_note",
    "update_progress_note",
    "write_psychotherapy_note",
]
