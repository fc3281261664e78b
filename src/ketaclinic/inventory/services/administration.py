"""Stock given to a patient's session, and waste awaiting (or given) a witness."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.services import record
from ketaclinic.inventory import hooks
from ketaclinic.inventory.models import Kind, LedgerEntry, Location, Lot
from ketaclinic.patients.models import Patient

from .posting import (
    _aware,
    _check_clinic,
    _corrected,
    _cosigned,
    _draw,
    _lock_lot,
    _place,
    _post_out,
    _quantity,
    _text,
    _witness_member,
    verify_witness,
)
from .stock import clinic_date


def _awaiting_witness() -> QuerySet[LedgerEntry]:
    # A reversed waste is resolved by its (co-signed) correction: it no longer waits.
    return LedgerEntry.objects.filter(kind=Kind.WASTE, witness__isnull=True).filter(~_corrected())


def unwitnessed_waste(clinic: Clinic) -> QuerySet[LedgerEntry]:
    """Waste entries still waiting for their witness (and not reversed), oldest first."""
    return (
        _awaiting_witness()
        .filter(clinic=clinic)
        .select_related("product", "lot", "recorded_by", "witness_requested", "patient")
        .order_by("occurred_at", "id")
    )


def unwitnessed_waste_for(session_ref: str) -> list[LedgerEntry]:
    """The treatment session's waste entries that no witness has confirmed yet."""
    return list(_awaiting_witness().filter(session_ref=session_ref).order_by("id"))


# ---------------------------------------------------------------- administration and waste


def _patient(actor: Actor, patient: Patient | int) -> Patient:
    patient_id = patient.pk if isinstance(patient, Patient) else patient
    found = Patient.objects.for_clinic(actor.clinic).filter(pk=patient_id).first()
    if found is None:
        raise ValidationError({"patient": "No such patient in this clinic."})
    return found


def _treatment_session(actor: Actor, session_ref: str, patient: Patient) -> None:
    """Refuse unless `session_ref` names a treatment session of `patient` in this clinic,
    and lock that session for the transaction.

    The ledger names a session by its id; the ledger sits below the treatment app and
    asks it through inventory/hooks.py.
    """
    assert transaction.get_connection().in_atomic_block
    session_id = _session_id(session_ref)
    found = (
        hooks.session_patient(actor.clinic.pk, session_id, lock=True)
        if session_id is not None
        else None
    )
    if found is None or found != patient.pk:
        raise ValidationError(
            {
                "session_ref": f"{session_ref} is not a treatment session of this patient "
                "in this clinic."
            }
        )


def _session_id(session_ref: str) -> int | None:
    """The session id a ledger reference names, or None when it cannot be one."""
    if session_ref.isascii() and session_ref.isdigit() and len(session_ref) <= 18:
        return int(session_ref)
    return None


def _check_not_expired(lot: Lot, on: date, what: str) -> None:
    """Refuse a dose (or waste) from a lot past its expiry on the day it happens."""
    if lot.expiry < on:
        raise ValidationError(
            {
                "lot": f"Lot {lot.number} expired on {lot.expiry:%Y-%m-%d}: it cannot be {what}. "
                "Record expired stock as destroyed or returned."
            }
        )


def post_administration(
    *,
    actor: Actor,
    lot: Lot,
    quantity: Any,
    unit: str,
    patient: Patient | int,
    session_ref: str,
    given_at: datetime | None,
    location: Location | None = None,
) -> LedgerEntry:
    """Record a dose given to a patient in a treatment session (who gave it is the actor).

    The session must be a real treatment session of that patient in this clinic, with
    no administration on the ledger yet (one that was reversed does not count: the
    right one is recorded after it). The lot must not have expired on the day of the
    dose (clinic date): a dose started before midnight on the expiry day still posts.
    """
    actor.check("ledger.record")
    place = _place(actor, lot, location)
    patient = _patient(actor, patient)
    amount = _quantity(lot.product, quantity, unit)
    session_ref = _text(session_ref, "session_ref", "Name the treatment session.")
    when = _aware(given_at)
    _check_not_expired(lot, clinic_date(actor.clinic, when), "administered")
    with transaction.atomic():
        # The session row's lock serialises two posts for one session (on other lots too).
        _treatment_session(actor, session_ref, patient)
        already = (
            LedgerEntry.objects.filter(
                clinic=actor.clinic,
                kind=Kind.ADMINISTER,
                session_ref=session_ref,
                corrects__isnull=True,
            )
            .filter(~_corrected())
            .values_list("pk", flat=True)
            .first()
        )
        if already is not None:
            raise ValidationError(
                {
                    "session_ref": f"Session {session_ref} already has its administration on "
                    f"the ledger (entry #{already}): correct that entry instead."
                }
            )
        return _post_out(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.ADMINISTER,
            quantity=amount,
            occurred_at=when,
            patient=patient,
            session_ref=session_ref,
        )


def _session_patient(actor: Actor, session_ref: str) -> Patient:
    """The patient of the clinic's treatment session `session_ref` (422 when there is none)."""
    session_id = _session_id(session_ref)
    patient_id = (
        hooks.session_patient(actor.clinic.pk, session_id) if session_id is not None else None
    )
    if patient_id is None:
        raise ValidationError(
            {"session_ref": f"{session_ref} is not a treatment session of this clinic."}
        )
    return _patient(actor, patient_id)


def post_waste_pending_witness(
    *,
    actor: Actor,
    lot: Lot,
    quantity: Any,
    unit: str,
    patient: Patient | int | None,
    session_ref: str,
    manner: str,
    witness: str | User | None = None,
    location: Location | None = None,
    occurred_at: datetime | None = None,
    confirmed_by: User | None = None,
) -> LedgerEntry:
    """Record a wasted remainder; it stays flagged until a second person confirms it.

    `witness` (a username or user) names who is asked to witness; anyone authorised
    other than the recorder may confirm it with their own credentials. `confirmed_by`
    is a witness whose credentials were already checked (`verify_witness`): the entry
    is then written witnessed.

    A named session must be a treatment session of the clinic (and of the patient, who
    defaults to the session's). Waste without a session (stock, not a dose's
    remainder) may not come from an expired lot: that is a destruction or a return.
    """
    place, amount = _draw(actor, lot, location, quantity, unit)
    found_patient = _patient(actor, patient) if patient is not None else None
    manner = _text(manner, "manner", "Say how it was wasted (e.g. into a drug-disposal container).")
    session_ref = (session_ref or "").strip()
    when = _aware(occurred_at)
    if not session_ref:
        _check_not_expired(lot, clinic_date(actor.clinic, when), "wasted from stock")
    requested = None
    if witness:
        username = witness.username if isinstance(witness, User) else str(witness)
        requested = _witness_member(actor.clinic, username, actor.user).user
    with transaction.atomic():
        if session_ref:
            if found_patient is None:
                found_patient = _session_patient(actor, session_ref)
            _treatment_session(actor, session_ref, found_patient)
        return _post_out(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.WASTE,
            quantity=amount,
            occurred_at=when,
            patient=found_patient,
            session_ref=session_ref,
            manner=manner,
            witness_requested=requested or confirmed_by,
            witness=confirmed_by,
            witnessed_at=timezone.now() if confirmed_by else None,
        )


_REVERSED = "This waste was reversed by a correction: there is nothing left to witness."


def confirm_waste_witness(
    *,
    actor: Actor,
    entry: LedgerEntry,
    request: HttpRequest,
    username: str = "",
    password: str = "",
    code: str = "",
) -> LedgerEntry:
    """The witness co-signs a waste entry with their own password or TOTP code."""
    actor.check("ledger.record")
    _check_clinic(actor, entry)
    if entry.kind != Kind.WASTE:
        raise ValidationError("Only waste waits for a witness.")
    if entry.witness_id is not None:
        raise ValidationError("This waste has already been witnessed.")
    if entry.corrects_id is not None or entry.corrections.exists():
        raise ValidationError(_REVERSED)
    username = username or (entry.witness_requested.username if entry.witness_requested else "")
    witness = verify_witness(
        request=request,
        clinic=actor.clinic,
        username=username,
        password=password,
        code=code,
        recorder=entry.recorded_by,
    )
    with transaction.atomic():
        # Under the lot lock, as a correction takes it: a waste reversed meanwhile is refused.
        _lock_lot(entry.lot)
        if entry.corrections.exists():
            raise ValidationError(_REVERSED)
        now = timezone.now()
        # The one change the append-only guard allows: filling an empty witness once.
        updated = LedgerEntry.objects.filter(pk=entry.pk, witness__isnull=True).update(
            witness=witness, witnessed_at=now
        )
        if not updated:
            raise ValidationError("This waste has already been witnessed.")
        record(
            actor,
            "witness",
            patient_id=entry.patient_id,
            obj=entry,
            detail={"witness": witness.pk},
        )
    entry.witness, entry.witnessed_at = witness, now
    return entry


def record_waste(
    *,
    actor: Actor,
    request: HttpRequest,
    lot: Lot,
    quantity: Any,
    unit: str,
    manner: str,
    witness: str,
    witness_password: str = "",
    witness_code: str = "",
    patient: Patient | int | None = None,
    session_ref: str = "",
    location: Location | None = None,
) -> LedgerEntry:
    """Record waste; witnessed at once when the witness's password or code comes with it."""
    confirmed = None
    if witness_password or witness_code:
        confirmed = _cosigned(
            actor=actor,
            request=request,
            witness=witness,
            witness_password=witness_password,
            witness_code=witness_code,
        )
    return post_waste_pending_witness(
        actor=actor,
        lot=lot,
        quantity=quantity,
        unit=unit,
        patient=patient,
        session_ref=session_ref,
        manner=manner,
        witness=witness,
        location=location,
        confirmed_by=confirmed,
    )
