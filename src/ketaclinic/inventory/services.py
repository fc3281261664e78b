"""Writes to the controlled-substance ledger; each owns its transaction and its audit event.

Every movement goes through `_post`, which locks the lot row, reads the balance at
the lot + location, refuses a balance below zero, appends the entry with its running
balance, and keeps the containers in step, all in one transaction. Co-signatures are
checked with the witness's own credentials before that transaction starts, so a wrong
password is counted by django-axes even though nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, Model, OuterRef, QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.accounts.roles import may
from ketaclinic.audit.models import AuditEvent
from ketaclinic.audit.services import hold_chain, record
from ketaclinic.clinical.dea import dea_number_problem
from ketaclinic.inventory import ledger_chain, rules
from ketaclinic.inventory.models import (
    Container,
    ContainerState,
    CountKind,
    CountLine,
    CountSession,
    CountTiming,
    InventorySettings,
    Kind,
    LedgerEntry,
    Location,
    LossReport,
    Lot,
    Product,
    Substance,
    Unit,
)
from ketaclinic.patients.models import Patient

DEFAULT_LOCATION = "Main safe"
ZERO = Decimal("0")
QUANT = Decimal("0.001")


# ---------------------------------------------------------------- lookups


def default_location(clinic: Clinic) -> Location:
    """The clinic's first active storage location, created as "Main safe" when there is none."""
    found = Location.objects.for_clinic(clinic).filter(is_active=True).order_by("pk").first()
    if found:
        return found
    location, _ = Location.objects.get_or_create(clinic=clinic, name=DEFAULT_LOCATION)
    return location


def create_location(*, actor: Actor, name: str) -> Location:
    """Add a secured storage location (a safe, a locked cabinet) to the clinic."""
    actor.check("inventory.setup")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the location."})
    default_location(actor.clinic)  # the main safe stays the first (default) location
    if Location.objects.for_clinic(actor.clinic).filter(name__iexact=name).exists():
        raise ValidationError({"name": "This clinic already has a location with this name."})
    with transaction.atomic():
        location = Location.objects.create(clinic=actor.clinic, name=name)
        record(actor, "create", obj=location)
    return location


def set_in_use(*, actor: Actor, item: Product | Location, in_use: bool) -> None:
    """Take a product or storage location out of use, or back; it is never deleted.

    A location that still holds stock stays in use: its balance must move first.
    """
    actor.check("inventory.setup")
    if item.clinic_id != actor.clinic.pk:
        raise ValidationError({"item": "Not an item of this clinic."})
    if not in_use and isinstance(item, Location):
        held = (
            LedgerEntry.objects.for_clinic(actor.clinic)
            .filter(location=item)
            .aggregate(total=Sum("delta"))["total"]
        )
        if held:
            raise ValidationError({"in_use": "This location still holds stock: transfer it first."})
    with transaction.atomic():
        type(item).objects.filter(pk=item.pk).update(is_active=in_use)
        record(actor, "update", obj=item, detail={"in_use": in_use})
    item.is_active = in_use


def clinic_today(clinic: Clinic) -> date:
    """Today's date where the clinic is (not the server's UTC date)."""
    return timezone.localdate(timezone=clinic.tz)


def clinic_date(clinic: Clinic, moment: datetime) -> date:
    """The clinic's calendar date of a stored (UTC) moment."""
    return timezone.localdate(moment, timezone=clinic.tz)


def settings_for(clinic: Clinic) -> InventorySettings:
    found, _ = InventorySettings.objects.get_or_create(clinic=clinic)
    return found


def current_balance(lot: Lot, location: Location) -> Decimal:
    """The balance at a lot + location after its latest entry (zero before any)."""
    last = (
        LedgerEntry.objects.filter(lot=lot, location=location)
        .order_by("-id")
        .values_list("balance_after", flat=True)
        .first()
    )
    return last if last is not None else ZERO


@dataclass(frozen=True)
class Balance:
    product: Product
    lot: Lot
    location: Location
    quantity: Decimal
    sealed: int
    opened: int

    @property
    def mg(self) -> Decimal:
        return (self.quantity * self.product.mg_per_unit).quantize(QUANT)


def balances(clinic: Clinic, *, include_empty: bool = False) -> list[Balance]:
    """Every lot + location's balance in the clinic (two queries whatever the ledger's size)."""
    latest = (
        LedgerEntry.objects.for_clinic(clinic)
        .values("lot_id", "location_id")
        .annotate(last=Max("id"))
        .values("last")
    )
    entries = (
        LedgerEntry.objects.filter(id__in=latest)
        .select_related("product", "lot", "location")
        .order_by("product__name", "lot__expiry", "lot__number", "location__name")
    )
    containers: dict[tuple[int, int], dict[str, int]] = {}
    for lot_id, location_id, state in (
        Container.objects.filter(clinic=clinic)
        .exclude(state=ContainerState.EMPTIED)
        .values_list("lot_id", "location_id", "state")
    ):
        counts = containers.setdefault((lot_id, location_id), {"sealed": 0, "opened": 0})
        counts[state] += 1
    found = []
    for entry in entries:
        if entry.balance_after == 0 and not include_empty:
            continue
        counts = containers.get((entry.lot_id, entry.location_id), {"sealed": 0, "opened": 0})
        found.append(
            Balance(
                entry.product,
                entry.lot,
                entry.location,
                entry.balance_after,
                counts["sealed"],
                counts["opened"],
            )
        )
    return found


def _corrected() -> Exists:
    """True for an entry that a later entry reverses."""
    return Exists(LedgerEntry.objects.filter(corrects=OuterRef("pk")))


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


# ---------------------------------------------------------------- validation helpers


def _decimal(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({field: "Enter a number."}) from None
    if not number.is_finite():
        raise ValidationError({field: "Enter a number."})
    return number


def _quantity(
    product: Product, value: Any, unit: str | None = None, field: str = "quantity"
) -> Decimal:
    """A positive quantity in the product's unit: whole devices, mL to 0.001 mL."""
    if unit is not None and unit != product.unit:
        raise ValidationError({"unit": f"{product.name} is counted in {product.unit}, not {unit}."})
    number = _decimal(value, field)
    if number <= 0:
        raise ValidationError({field: "The quantity must be more than zero."})
    if product.unit == Unit.DEVICE and number != number.to_integral_value():
        raise ValidationError({field: "Esketamine is drawn per device: give a whole number."})
    if number != number.quantize(QUANT):
        raise ValidationError({field: "Give the quantity to at most 0.001 mL."})
    if number > Decimal("100000"):
        raise ValidationError({field: "This quantity is impossibly large."})
    return number.quantize(QUANT)


def _check_clinic(actor: Actor, *objects: Any) -> None:
    for obj in objects:
        if obj is not None and obj.clinic_id != actor.clinic.pk:
            raise ValidationError("This belongs to another clinic.")


def _place(actor: Actor, lot: Lot, location: Location | None) -> Location:
    """Where a movement happens (the default location when none is named), once the lot
    and location are checked to be the actor's clinic's."""
    _check_clinic(actor, lot, location)
    return location or default_location(actor.clinic)


def _text(value: Any, field: str, message: str) -> str:
    """`value` without surrounding spaces; refused, naming `field`, when it is blank."""
    text = str(value or "").strip()
    if not text:
        raise ValidationError({field: message})
    return text


def _aware(value: datetime | None) -> datetime:
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        raise ValidationError({"occurred_at": "Give the time with its time zone."})
    if value > now + timezone.timedelta(minutes=5):
        raise ValidationError({"occurred_at": "This time is in the future."})
    return value


# ---------------------------------------------------------------- witness


def _witness_member(clinic: Clinic, username: str, recorder: User) -> Membership:
    """The witness's membership: a nurse or physician of the clinic other than the recorder."""
    username = _text(username, "witness", "Name the second person who witnesses this.")
    membership = (
        Membership.objects.active()
        .select_related("user")
        .filter(clinic=clinic, user__username=username)
        .first()
    )
    if membership is None or not may(membership.role, "ledger.record"):
        raise ValidationError(
            {"witness": "The witness must be a nurse or physician of this clinic."}
        )
    if membership.user_id == recorder.pk:
        raise ValidationError(
            {"witness": "The witness must be a second person, not the one who recorded it."}
        )
    return membership


def verify_witness(
    *,
    request: HttpRequest,
    clinic: Clinic,
    username: str,
    password: str = "",
    code: str = "",
    recorder: User,
) -> User:
    """The co-signing user, after checking their own fresh password or TOTP code.

    Call outside any transaction: a failed password is recorded by django-axes (which
    locks the account after repeated failures) and in the audit log, and a rollback
    would erase that record.
    """
    membership = _witness_member(clinic, username, recorder)
    username = membership.user.username
    if code:
        device = TOTPDevice.objects.filter(user=membership.user, confirmed=True).first()
        if device is None:
            raise ValidationError({"witness_code": "This witness has no authenticator set up."})
        if not device.verify_token(code.strip()):
            raise ValidationError({"witness_code": "That code is not right (or has expired)."})
        return membership.user
    if not password:
        raise ValidationError(
            {"witness_password": "The witness confirms with their own password or code."}
        )
    user = authenticate(request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        raise ValidationError(
            {"witness_password": "Too many failed attempts: this account is locked for now."}
        )
    if user is None or user.pk != membership.user_id:
        raise ValidationError({"witness_password": "Wrong password for this witness."})
    return membership.user


# ---------------------------------------------------------------- the one write path


def _lock_lot(lot: Lot) -> Lot:
    """Lock the lot row for the rest of the transaction.

    PostgreSQL: SELECT … FOR UPDATE, so two concurrent entries on one lot queue here and
    the second reads the balance the first wrote. SQLite runs transactions IMMEDIATE
    (settings), which already serialises writers; select_for_update is a no-op there.
    """
    hold_chain(lot.clinic_id)  # the audit chain first, as every ledger write will record
    return Lot.objects.select_for_update().get(pk=lot.pk)


def _post(
    *,
    actor: Actor,
    lot: Lot,
    location: Location,
    kind: str,
    quantity: Decimal,
    sign: int,
    occurred_at: datetime | None = None,
    audit_action: str = "create",
    follow_containers: bool = True,
    **fields: Any,
) -> LedgerEntry:
    """Append one entry (inside the caller's transaction); refuses a negative balance.

    The containers follow the balance unless the caller moves them itself
    (`follow_containers=False`: a receipt adds sealed ones, a transfer relocates them).
    """
    assert transaction.get_connection().in_atomic_block
    lot = _lock_lot(lot)
    product = lot.product
    before = current_balance(lot, location)
    delta = quantity * sign
    after = before + delta
    if after < 0:
        raise ValidationError(
            {
                "quantity": (
                    f"Only {_fmt(before)} {product.unit} of lot {lot.number} is on hand at "
                    f"{location.name}; this would leave {_fmt(after)} {product.unit}."
                )
            }
        )
    now = timezone.now()
    entry = LedgerEntry(
        clinic_id=lot.clinic_id,
        location=location,
        product=product,
        lot=lot,
        kind=kind,
        quantity=quantity,
        mg=(quantity * product.mg_per_unit).quantize(QUANT),
        delta=delta,
        balance_after=after,
        recorded_by=actor.user,
        recorded_at=now,
        occurred_at=_aware(occurred_at),
        **fields,
    )
    # The lot is locked: its newest entry is the one this entry follows.
    entry.prev_hash = (
        LedgerEntry.objects.filter(lot=lot).order_by("-id").values_list("hash", flat=True).first()
        or ledger_chain.GENESIS
    )
    entry.hash = ledger_chain.entry_hash(entry.__dict__, entry.prev_hash)
    entry.save()
    if follow_containers:
        _containers_follow(lot, location, delta, product, now)
    record(
        actor,
        audit_action,
        patient_id=entry.patient_id,
        obj=entry,
        # The hash, sealed with the audit log, vouches for the entry (verify_ledger).
        detail={"kind": kind, "lot": lot.pk, "location": location.pk, "hash": entry.hash},
    )
    return entry


def _fmt(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _containers_follow(
    lot: Lot, location: Location, delta: Decimal, product: Product, now: datetime
) -> None:
    """Keep the containers' remaining quantities equal to the balance after `delta`.

    A draw empties opened containers first (oldest first), then opens sealed ones in
    order. An increase (an upward adjustment, a reversed entry) refills the most
    recently opened or emptied containers up to their size, then adds new ones.
    """
    size = product.units_per_container
    if delta < 0:
        need = -delta
        ordered = Container.objects.filter(
            lot=lot, location=location, state__in=[ContainerState.OPENED, ContainerState.SEALED]
        ).order_by("state", "opened_at", "seq")  # "opened" sorts before "sealed"
        for container in ordered:
            if need <= 0:
                break
            take = min(need, container.remaining)
            container.remaining -= take
            need -= take
            if container.opened_at is None:
                container.opened_at = now
            if container.remaining == 0:
                container.state, container.emptied_at = ContainerState.EMPTIED, now
            else:
                container.state = ContainerState.OPENED
            container.save(update_fields=["remaining", "state", "opened_at", "emptied_at"])
        return
    more = delta
    refill = Container.objects.filter(
        lot=lot, location=location, state__in=[ContainerState.OPENED, ContainerState.EMPTIED]
    ).order_by("-state", "-emptied_at", "-opened_at", "-seq")  # "opened" before "emptied"
    for container in refill:
        if more <= 0:
            break
        add = min(more, size - container.remaining)
        if add <= 0:
            continue
        container.remaining += add
        container.state, container.emptied_at = ContainerState.OPENED, None
        more -= add
        container.save(update_fields=["remaining", "state", "emptied_at"])
    while more > 0:
        add = min(more, size)
        _new_containers(
            lot, location, 1, add, ContainerState.SEALED if add == size else ContainerState.OPENED
        )
        more -= add


def _new_containers(
    lot: Lot, location: Location, count: int, remaining: Decimal, state: str
) -> None:
    start = (Container.objects.filter(lot=lot).aggregate(m=Max("seq"))["m"] or 0) + 1
    Container.objects.bulk_create(
        Container(
            clinic_id=lot.clinic_id,
            lot=lot,
            location=location,
            seq=start + i,
            state=state,
            remaining=remaining,
        )
        for i in range(count)
    )


# ---------------------------------------------------------------- products and receipts


def create_product(
    *,
    actor: Actor,
    name: str,
    ndc: str,
    substance: str,
    unit: str,
    mg_per_unit: Any,
    units_per_container: Any,
    form: str = "",
    strength: str = "",
) -> Product:
    """Register a product (finished form) of ketamine or esketamine for the clinic."""
    actor.check("inventory.setup")
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Name the product, e.g. Ketamine 50 mg/mL, 10 mL vial."
    digits = (ndc or "").replace("-", "").strip()
    if not digits.isdigit() or len(digits) not in (10, 11):
        errors["ndc"] = "An NDC has 10 or 11 digits (e.g. 12345-678-90)."
    if substance not in Substance.values:
        errors["substance"] = "Ketamine or esketamine."
    if unit not in Unit.values:
        errors["unit"] = "mL or device."
    elif substance == Substance.ESKETAMINE and unit != Unit.DEVICE:
        errors["unit"] = "Esketamine nasal spray is counted per device."
    mg, size = ZERO, ZERO
    try:
        mg = _decimal(mg_per_unit, "mg_per_unit")
        if not ZERO < mg <= 1000:
            errors["mg_per_unit"] = "Between 0 and 1000 mg per unit."
    except ValidationError:
        errors["mg_per_unit"] = "Enter a number."
    try:
        size = _decimal(units_per_container, "units_per_container")
        if not ZERO < size <= 1000 or (unit == Unit.DEVICE and size != size.to_integral_value()):
            errors["units_per_container"] = "A positive size (whole devices)."
    except ValidationError:
        errors["units_per_container"] = "Enter a number."
    if not errors and Product.objects.for_clinic(actor.clinic).filter(ndc=ndc.strip()).exists():
        errors["ndc"] = "This clinic already has a product with this NDC."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        product = Product.objects.create(
            clinic=actor.clinic,
            name=name,
            ndc=ndc.strip(),
            substance=substance,
            unit=unit,
            mg_per_unit=mg,
            units_per_container=size,
            form=form,
            strength=strength,
        )
        record(actor, "create", obj=product)
    return product


def receive(
    *,
    actor: Actor,
    product: Product,
    lot_number: str,
    expiry: date,
    containers: int,
    supplier_name: str,
    supplier_address: str,
    supplier_dea_number: str,
    invoice: str = "",
    location: Location | None = None,
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Record a receipt of sealed containers (21 CFR 1304.22(c)(3)); creates the lot if new."""
    actor.check("ledger.record")
    _check_clinic(actor, product, location)
    location = location or default_location(actor.clinic)
    errors: dict[str, str] = {}
    lot_number = (lot_number or "").strip()
    if not lot_number:
        errors["lot"] = "Give the lot number printed on the container."
    if (
        not isinstance(containers, int)
        or isinstance(containers, bool)
        or not 1 <= containers <= 10000
    ):
        errors["containers"] = "The number of sealed containers received (1 or more)."
    if not (supplier_name or "").strip():
        errors["supplier.name"] = "Give the supplier's name."
    if not (supplier_address or "").strip():
        errors["supplier.address"] = "Give the supplier's address."
    problem = dea_number_problem(supplier_dea_number)
    if problem:
        errors["supplier.dea_number"] = problem
    # Expired stock is never received into usable stock: the supplier takes it back (a
    # return), so nothing expired can be picked for a patient from the ledger.
    received_on = (
        timezone.localdate(occurred_at, timezone=actor.clinic.tz)
        if occurred_at
        else clinic_today(actor.clinic)
    )
    if isinstance(expiry, date) and expiry < received_on:
        errors["expiry"] = (
            f"This lot expired on {expiry:%d %b %Y}: expired stock cannot be received. "
            "Return it to the supplier."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        lot, created = Lot.objects.get_or_create(
            product=product,
            number=lot_number,
            defaults={
                "clinic": actor.clinic,
                "expiry": expiry,
                "supplier_name": supplier_name.strip(),
            },
        )
        if not created and lot.expiry != expiry:
            raise ValidationError(
                {"expiry": f"Lot {lot_number} is on record with expiry {lot.expiry:%Y-%m-%d}."}
            )
        quantity = product.units_per_container * containers
        entry = _post(
            actor=actor,
            lot=lot,
            location=location,
            kind=Kind.RECEIVE,
            quantity=quantity,
            sign=+1,
            follow_containers=False,
            occurred_at=occurred_at,
            supplier_name=supplier_name.strip(),
            supplier_address=supplier_address.strip(),
            supplier_dea_number=supplier_dea_number.strip().upper(),
            invoice=(invoice or "").strip(),
            containers=containers,
        )
        _new_containers(
            lot, location, containers, product.units_per_container, ContainerState.SEALED
        )
    return entry


# ---------------------------------------------------------------- administration and waste


def _patient(actor: Actor, patient: Patient | int) -> Patient:
    patient_id = patient.pk if isinstance(patient, Patient) else patient
    found = Patient.objects.for_clinic(actor.clinic).filter(pk=patient_id).first()
    if found is None:
        raise ValidationError({"patient": "No such patient in this clinic."})
    return found


def _treatment_session(actor: Actor, session_ref: str, patient: Patient) -> Model:
    """The clinic's treatment session `session_ref` of `patient`, locked for the transaction.

    The ledger names a session by its id. Looked up through the app registry: the
    ledger sits below the treatment app and does not import it.
    """
    assert transaction.get_connection().in_atomic_block
    TreatmentSession = apps.get_model("treatment", "TreatmentSession")
    session_id = _session_id(session_ref)
    found = (
        TreatmentSession.objects.select_for_update()
        .filter(pk=session_id, clinic=actor.clinic)
        .first()
        if session_id is not None
        else None
    )
    if found is None or found.patient_id != patient.pk:
        raise ValidationError(
            {
                "session_ref": f"{session_ref} is not a treatment session of this patient "
                "in this clinic."
            }
        )
    return found


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
        return _post(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.ADMINISTER,
            quantity=amount,
            sign=-1,
            occurred_at=when,
            patient=patient,
            session_ref=session_ref,
        )


def _session_patient(actor: Actor, session_ref: str) -> Patient:
    """The patient of the clinic's treatment session `session_ref` (422 when there is none)."""
    TreatmentSession = apps.get_model("treatment", "TreatmentSession")
    session_id = _session_id(session_ref)
    patient_id = (
        TreatmentSession.objects.filter(pk=session_id, clinic=actor.clinic)
        .values_list("patient_id", flat=True)
        .first()
        if session_id is not None
        else None
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
    actor.check("ledger.record")
    place = _place(actor, lot, location)
    amount = _quantity(lot.product, quantity, unit)
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
        return _post(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.WASTE,
            quantity=amount,
            sign=-1,
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


# ---------------------------------------------------------------- co-signed movements


def _cosigned(
    *,
    actor: Actor,
    request: HttpRequest,
    witness: str,
    witness_password: str,
    witness_code: str,
) -> User:
    """The co-signer of the actor's entry, checked with their own password or code."""
    return verify_witness(
        request=request,
        clinic=actor.clinic,
        username=witness,
        password=witness_password,
        code=witness_code,
        recorder=actor.user,
    )


def destroy(
    *,
    actor: Actor,
    request: HttpRequest,
    lot: Lot,
    quantity: Any,
    manner: str,
    witness: str,
    witness_password: str = "",
    witness_code: str = "",
    reason: str = "",
    location: Location | None = None,
) -> LedgerEntry:
    """Destroy expired or unwanted stock on site, two staff (21 CFR 1317.95(d))."""
    actor.check("ledger.record")
    place = _place(actor, lot, location)
    amount = _quantity(lot.product, quantity)
    manner = _text(manner, "manner", "Say how it was destroyed (rendered non-retrievable).")
    cosigner = _cosigned(
        actor=actor,
        request=request,
        witness=witness,
        witness_password=witness_password,
        witness_code=witness_code,
    )
    with transaction.atomic():
        return _post(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.DESTROY,
            quantity=amount,
            sign=-1,
            manner=manner,
            reason=(reason or "").strip(),
            witness=cosigner,
            witnessed_at=timezone.now(),
        )


def return_stock(
    *,
    actor: Actor,
    lot: Lot,
    quantity: Any,
    manner: str,
    location: Location | None = None,
) -> LedgerEntry:
    """Return stock to the supplier or a reverse distributor (manner names to whom)."""
    actor.check("ledger.record")
    place = _place(actor, lot, location)
    amount = _quantity(lot.product, quantity)
    manner = _text(manner, "manner", "Name the supplier or reverse distributor.")
    with transaction.atomic():
        return _post(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.RETURN,
            quantity=amount,
            sign=-1,
            manner=manner,
        )


def adjust(
    *,
    actor: Actor,
    request: HttpRequest,
    lot: Lot,
    delta: Any,
    reason: str,
    witness: str,
    witness_password: str = "",
    witness_code: str = "",
    location: Location | None = None,
    count_line: CountLine | None = None,
) -> LedgerEntry:
    """Correct a balance after a count, by a signed amount, with a reason and a co-signer."""
    actor.check("ledger.record")
    place = _place(actor, lot, location)
    change = _decimal(delta, "delta")
    if change == 0:
        raise ValidationError({"delta": "An adjustment changes the balance."})
    amount = _quantity(lot.product, abs(change), field="delta")
    reason = _text(reason, "reason", "Give the reason for the adjustment.")
    cosigner = _cosigned(
        actor=actor,
        request=request,
        witness=witness,
        witness_password=witness_password,
        witness_code=witness_code,
    )
    with transaction.atomic():
        entry = _post(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.ADJUST,
            quantity=amount,
            sign=1 if change > 0 else -1,
            reason=reason,
            witness=cosigner,
            witnessed_at=timezone.now(),
        )
        if count_line is not None:
            _resolve_line(count_line, entry)
    return entry


_CORRECTED = "This entry has already been corrected."


def correct_entry(
    *,
    actor: Actor,
    request: HttpRequest,
    entry: LedgerEntry,
    reason: str,
    witness: str,
    witness_password: str = "",
    witness_code: str = "",
) -> LedgerEntry:
    """Reverse a mistaken entry with a new one of the same kind that references it.

    The original stays in the ledger; record the right entry afterwards. Co-signed,
    because a reversal puts stock back on the books.
    """
    actor.check("ledger.record")
    _check_clinic(actor, entry)
    if entry.corrects_id is not None:
        raise ValidationError("This entry is itself a correction; correct the original.")
    if entry.corrections.exists():
        raise ValidationError(_CORRECTED)
    if entry.kind == Kind.TRANSFER:
        raise ValidationError("Reverse a transfer by transferring back.")
    reason = _text(reason, "reason", "Say what was wrong.")
    cosigner = _cosigned(
        actor=actor,
        request=request,
        witness=witness,
        witness_password=witness_password,
        witness_code=witness_code,
    )
    try:
        with transaction.atomic():
            # Checked again under the lot lock: two corrections posted at once queue here,
            # and the second sees the first (the unique constraint is the last word).
            _lock_lot(entry.lot)
            if LedgerEntry.objects.filter(corrects=entry).exists():
                raise ValidationError(_CORRECTED)
            return _post(
                actor=actor,
                lot=entry.lot,
                location=entry.location,
                kind=entry.kind,
                quantity=entry.quantity,
                sign=-1 if entry.delta > 0 else 1,
                corrects=entry,
                reason=reason,
                patient_id=entry.patient_id,
                session_ref=entry.session_ref,
                witness=cosigner,
                witnessed_at=timezone.now(),
                audit_action="correct",
            )
    except IntegrityError:
        if LedgerEntry.objects.filter(corrects=entry).exists():
            raise ValidationError(_CORRECTED) from None
        raise


def transfer(
    *,
    actor: Actor,
    lot: Lot,
    from_location: Location,
    to_location: Location,
    containers: int,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move sealed containers between the clinic's locations: an entry out and one in."""
    actor.check("ledger.record")
    _check_clinic(actor, lot, from_location, to_location)
    if from_location.pk == to_location.pk:
        raise ValidationError({"to_location": "Choose a different location."})
    if not isinstance(containers, int) or containers < 1:
        raise ValidationError({"containers": "Move one or more sealed containers."})
    with transaction.atomic():
        locked = _lock_lot(lot)
        sealed = list(
            Container.objects.filter(
                lot=locked, location=from_location, state=ContainerState.SEALED
            ).order_by("seq")[:containers]
        )
        if len(sealed) < containers:
            raise ValidationError(
                {"containers": f"Only {len(sealed)} sealed containers are at {from_location.name}."}
            )
        quantity = lot.product.units_per_container * containers
        out = _post(
            actor=actor,
            lot=locked,
            location=from_location,
            kind=Kind.TRANSFER,
            quantity=quantity,
            sign=-1,
            follow_containers=False,
            containers=containers,
        )
        into = _post(
            actor=actor,
            lot=locked,
            location=to_location,
            kind=Kind.TRANSFER,
            quantity=quantity,
            sign=+1,
            follow_containers=False,
            containers=containers,
            counterpart=out,
        )
        Container.objects.filter(pk__in=[c.pk for c in sealed]).update(location=to_location)
    return out, into


def record_loss(
    *,
    actor: Actor,
    lot: Lot,
    quantity: Any,
    circumstances: str,
    discovered_on: date | None = None,
    theft_suspected: bool = False,
    location: Location | None = None,
    count_line: CountLine | None = None,
) -> LossReport:
    """Record a theft or significant loss and open its DEA report with the due dates."""
    actor.check("ledger.record")
    place = _place(actor, lot, location)
    amount = _quantity(lot.product, quantity)
    circumstances = _text(
        circumstances, "circumstances", "Describe what happened and how it was found."
    )
    today = clinic_today(actor.clinic)
    discovered_on = discovered_on or today
    if discovered_on > today:
        raise ValidationError({"discovered_on": "The discovery date is in the future."})
    notice_due, form_due = rules.loss_deadlines(discovered_on)
    with transaction.atomic():
        entry = _post(
            actor=actor,
            lot=lot,
            location=place,
            kind=Kind.LOSS,
            quantity=amount,
            sign=-1,
            reason=circumstances,
        )
        report = LossReport.objects.create(
            clinic=actor.clinic,
            entry=entry,
            discovered_on=discovered_on,
            notice_due=notice_due,
            form106_due=form_due,
            circumstances=circumstances,
            theft_suspected=theft_suspected,
        )
        record(actor, "create", obj=report, detail={"entry": entry.pk})
        if count_line is not None:
            _resolve_line(count_line, entry)
    return report


def mark_loss_notice_sent(
    *, actor: Actor, report: LossReport, sent_at: datetime | None = None
) -> LossReport:
    """Note that the written notice went to the DEA Field Division Office."""
    actor.check("loss.record")
    _check_clinic(actor, report)
    if report.notice_sent_at is not None:
        raise ValidationError("The written notice is already marked as sent.")
    when = _aware(sent_at)
    with transaction.atomic():
        # Filled once, from empty (the report is append-only otherwise).
        if not LossReport.objects.filter(pk=report.pk, notice_sent_at__isnull=True).update(
            notice_sent_at=when, notice_sent_by=actor.user
        ):
            raise ValidationError("The written notice is already marked as sent.")
        record(actor, "update", obj=report, detail={"fields": ["notice_sent_at"]})
    report.notice_sent_at, report.notice_sent_by = when, actor.user
    return report


def mark_loss_filed(
    *, actor: Actor, report: LossReport, reference: str, filed_at: datetime | None = None
) -> LossReport:
    """Note that DEA Form 106 was filed, with its reference."""
    actor.check("loss.record")
    _check_clinic(actor, report)
    if report.filed_at is not None:
        raise ValidationError("Form 106 is already marked as filed.")
    reference = _text(reference, "reference", "Give the Form 106 reference.")
    when = _aware(filed_at)
    with transaction.atomic():
        if not LossReport.objects.filter(pk=report.pk, filed_at__isnull=True).update(
            filed_at=when, filed_by=actor.user, filed_reference=reference
        ):
            raise ValidationError("Form 106 is already marked as filed.")
        record(actor, "update", obj=report, detail={"fields": ["filed_at", "filed_reference"]})
    report.filed_at, report.filed_by, report.filed_reference = when, actor.user, reference
    return report


# ---------------------------------------------------------------- counts and inventories


def record_count(
    *,
    actor: Actor,
    location: Location,
    timing: str,
    lines: list[dict[str, Any]],
    kind: str = CountKind.COUNT,
    note: str = "",
    counted_at: datetime | None = None,
) -> CountSession:
    """Record a physical count of a location; each line is compared with the ledger.

    `lines`: {"lot": Lot, "counted": quantity, "estimated": bool, "sealed_containers": int}.
    A complete or initial inventory must list every lot with stock at the location.
    """
    actor.check("ledger.record")
    _check_clinic(actor, location)
    if timing not in CountTiming.values:
        raise ValidationError({"timing": "Opening or close of business."})
    if kind not in CountKind.values:
        raise ValidationError({"kind": "Routine count, initial or complete inventory."})
    seen: set[int] = set()
    parsed = []
    for index, line in enumerate(lines):
        lot = line["lot"]
        _check_clinic(actor, lot)
        if lot.pk in seen:
            raise ValidationError({f"lines.{index}.lot": "This lot is listed twice."})
        seen.add(lot.pk)
        counted = _decimal(line.get("counted"), f"lines.{index}.counted")
        if counted < 0:
            raise ValidationError({f"lines.{index}.counted": "A count cannot be negative."})
        estimated = bool(line.get("estimated"))
        if lot.product.unit == Unit.DEVICE and counted != counted.to_integral_value():
            raise ValidationError({f"lines.{index}.counted": "Count whole devices."})
        parsed.append((lot, counted.quantize(QUANT), estimated, line.get("sealed_containers")))
    with transaction.atomic():
        on_hand = {b.lot.pk: b for b in balances(actor.clinic) if b.location.pk == location.pk}
        if kind in (CountKind.INITIAL, CountKind.INVENTORY):
            missing = sorted(set(on_hand) - seen)
            if missing:
                raise ValidationError(
                    {
                        "lines": "A complete inventory counts every lot on hand: "
                        + ", ".join(on_hand[m].lot.number for m in missing)
                        + " missing."
                    }
                )
        session = CountSession.objects.create(
            clinic=actor.clinic,
            location=location,
            kind=kind,
            timing=timing,
            counted_by=actor.user,
            counted_at=_aware(counted_at),
            note=(note or "").strip(),
        )
        CountLine.objects.bulk_create(
            CountLine(
                session=session,
                lot=lot,
                counted=counted,
                ledger_balance=on_hand[lot.pk].quantity if lot.pk in on_hand else ZERO,
                estimated=estimated,
                sealed_containers=sealed,
            )
            for lot, counted, estimated, sealed in parsed
        )
        record(
            actor,
            "create",
            obj=session,
            detail={"kind": kind, "lines": len(parsed), "location": location.pk},
        )
    return session


def _resolve_line(line: CountLine, entry: LedgerEntry) -> None:
    updated = CountLine.objects.filter(pk=line.pk, resolved_by__isnull=True).update(
        resolved_by=entry, resolved_at=timezone.now()
    )
    if not updated:
        raise ValidationError("This discrepancy has already been resolved.")


def resolve_discrepancy(
    *,
    actor: Actor,
    request: HttpRequest,
    line: CountLine,
    resolution: str,
    reason: str,
    witness: str = "",
    witness_password: str = "",
    witness_code: str = "",
    theft_suspected: bool = False,
) -> LedgerEntry:
    """Resolve a count's discrepancy: an `adjust` (co-signed) or escalate a shortfall to `loss`."""
    actor.check("ledger.record")
    session = line.session
    _check_clinic(actor, session)
    if line.resolved_by_id is not None:
        raise ValidationError("This discrepancy has already been resolved.")
    difference = line.discrepancy
    if difference == 0:
        raise ValidationError("The count matched the ledger: nothing to resolve.")
    if resolution == "adjust":
        return adjust(
            actor=actor,
            request=request,
            lot=line.lot,
            delta=difference,
            reason=reason,
            witness=witness,
            witness_password=witness_password,
            witness_code=witness_code,
            location=session.location,
            count_line=line,
        )
    if resolution == "loss":
        if difference > 0:
            raise ValidationError({"resolution": "More was counted than the ledger holds: adjust."})
        report = record_loss(
            actor=actor,
            lot=line.lot,
            quantity=-difference,
            circumstances=reason,
            # The clinic's date of the count: an evening count in New York is already
            # tomorrow in UTC, and tomorrow would be refused as a future discovery.
            discovered_on=clinic_date(actor.clinic, session.counted_at),
            theft_suspected=theft_suspected,
            location=session.location,
            count_line=line,
        )
        return report.entry
    raise ValidationError({"resolution": "Adjust or loss."})


def last_inventories(clinic: Clinic) -> dict[int, date]:
    """Each location's latest initial or complete inventory date (clinic time zone)."""
    rows = (
        CountSession.objects.for_clinic(clinic)
        .filter(kind__in=[CountKind.INITIAL, CountKind.INVENTORY])
        .values("location_id")
        .annotate(at=Max("counted_at"))
        .values_list("location_id", "at")
    )
    return {location_id: clinic_date(clinic, at) for location_id, at in rows}


def inventory_due(clinic: Clinic, today: date | None = None) -> rules.InventoryDue:
    """Whether an initial or complete inventory is due at any of the clinic's active
    locations, and which (for the page banner and the reminder)."""
    config = settings_for(clinic)
    locations = list(
        Location.objects.for_clinic(clinic)
        .filter(is_active=True)
        .order_by("name")
        .values_list("pk", "name")
    )
    return rules.clinic_inventory_due(
        locations=locations,
        last_on=last_inventories(clinic),
        today=today or clinic_today(clinic),
        interval_months=config.inventory_interval_months,
        remind_days=config.remind_days_before,
    )


def _reminder_text(due: rules.InventoryDue) -> str:
    if not due.places:
        return "No initial controlled-substance inventory is on record. Take it today."
    lines = ["A controlled-substance inventory is due:"]
    for place in due.places:
        state = place.due
        if state.state == "initial":
            lines.append(f"- {place.name}: no initial inventory is on record. Take it today.")
        else:
            lines.append(
                f"- {place.name}: the complete inventory is {state.state}, due "
                f"{state.due_on:%Y-%m-%d} (last {state.last_on:%Y-%m-%d})."
            )
    return "\n".join(lines)


def send_inventory_reminders(today: date | None = None) -> int:
    """E-mail each clinic's ledger staff when an inventory is due; once a week at most.

    A clinic with no ledger entries yet is reminded too: its initial inventory (zero if
    nothing is on hand) is due before the first receipt. `today` defaults to each
    clinic's own date. Returns the number of clinics reminded. For the worker (daily).
    """
    from django.core.mail import send_mail

    sent = 0
    for clinic in Clinic.objects.all():
        day = today or clinic_today(clinic)
        due = inventory_due(clinic, day)
        if not due.needs_attention:
            continue
        config = settings_for(clinic)
        if config.last_reminder_sent_on and (day - config.last_reminder_sent_on).days < 7:
            continue
        recipients = sorted(
            m.user.email
            for m in Membership.objects.active().select_related("user").filter(clinic=clinic)
            if m.user.email and (may(m.role, "ledger.record") or may(m.role, "ledger.report"))
        )
        if not recipients:
            continue
        send_mail(
            f"{clinic.name}: controlled-substance inventory due",
            _reminder_text(due),
            None,
            recipients,
        )
        InventorySettings.objects.filter(pk=config.pk).update(last_reminder_sent_on=day)
        sent += 1
    return sent


def update_settings(*, actor: Actor, interval_months: int) -> InventorySettings:
    """Change how often a complete inventory is due (12 or 24 months)."""
    actor.check("ledger.report")
    if interval_months not in (12, 24):
        raise ValidationError({"inventory_interval_months": "Every 12 or every 24 months."})
    config = settings_for(actor.clinic)
    with transaction.atomic():
        config.inventory_interval_months = interval_months
        config.save(update_fields=["inventory_interval_months"])
        record(actor, "update", obj=config, detail={"fields": ["inventory_interval_months"]})
    return config


def ledger_entries(
    clinic: Clinic,
    *,
    product: int | None = None,
    lot: int | None = None,
    start: date | None = None,
    end: date | None = None,
    kinds: list[str] | None = None,
    corrected: bool = True,
) -> QuerySet[LedgerEntry]:
    """The clinic's entries in the order they were recorded (the order of the running
    balances), filtered; dates select by when it happened, whole days in the clinic's time zone.
    `corrected=False`: the caller marks reversed entries itself (a page: one lookup)."""
    entries = LedgerEntry.objects.for_clinic(clinic).select_related(
        "product", "lot", "location", "recorded_by", "witness", "patient"
    )
    if corrected:
        entries = entries.annotate(corrected=_corrected())
    if product:
        entries = entries.filter(product_id=product)
    if lot:
        entries = entries.filter(lot_id=lot)
    if kinds:
        entries = entries.filter(kind__in=kinds)
    lower, upper = clinic.day_span(start, end)
    if lower:
        entries = entries.filter(occurred_at__gte=lower)
    if upper:
        entries = entries.filter(occurred_at__lt=upper)
    return entries.order_by("id")


def expiring_lots(clinic: Clinic, today: date, days: int = 60) -> list[Balance]:
    """Lots with stock on hand that expire within `days` (or have expired)."""
    horizon = today + timezone.timedelta(days=days)
    return [b for b in balances(clinic) if b.lot.expiry <= horizon]


def verify_ledger() -> list[ledger_chain.Problem]:
    """Every way the stored ledger differs from what was written, first problem first."""
    columns = ("id", "hash", "prev_hash", *ledger_chain.HASHED)
    entries = LedgerEntry.objects.order_by("lot_id", "id").values(*columns)
    mg_per_unit = dict(Product.objects.values_list("id", "mg_per_unit"))
    vouched = {}
    for object_id, detail in AuditEvent.objects.filter(
        object_type=LedgerEntry._meta.label_lower
    ).values_list("object_id", "detail"):
        if isinstance(detail, dict) and "hash" in detail:
            vouched[int(object_id)] = detail["hash"]
    return ledger_chain.check_entries(entries.iterator(chunk_size=2000), mg_per_unit, vouched)


def alert_admins_of_ledger_problems(problems: list[ledger_chain.Problem]) -> int:
    """E-mail every clinic's admins that the ledger failed verification; returns e-mails sent.

    The message names entry ids and what is wrong, never a patient.
    """
    from django.core.mail import send_mail

    if not problems:
        return 0
    ids = [p.entry for p in problems if p.entry]
    clinics = dict(LedgerEntry.objects.filter(pk__in=ids).values_list("pk", "clinic_id"))
    # An entry that is gone is still named by its audit event.
    for object_id, clinic_id in AuditEvent.objects.filter(
        object_type=LedgerEntry._meta.label_lower,
        object_id__in=[str(pk) for pk in ids if pk not in clinics],
    ).values_list("object_id", "clinic_id"):
        clinics[int(object_id)] = clinic_id
    sent = 0
    for clinic in Clinic.objects.filter(pk__in=set(clinics.values())):
        mine = [p for p in problems if clinics.get(p.entry or 0) == clinic.pk]
        recipients = sorted(
            m.user.email
            for m in Membership.objects.active().select_related("user").filter(clinic=clinic)
            if m.user.email and may(m.role, "audit.view")
        )
        if not recipients:
            continue
        lines = [str(p) for p in mine[:50]]
        send_mail(
            f"{clinic.name}: the controlled-substance ledger failed verification",
            "The nightly check (python -m ketaclinic verify_ledger) found:\n\n"
            + "\n".join(lines)
            + "\n\nThe ledger may have been altered outside the application. Secure the "
            "database, compare with the last backup and the paper records, and report as "
            "your state and DEA rules require.",
            None,
            recipients,
        )
        sent += 1
    return sent
