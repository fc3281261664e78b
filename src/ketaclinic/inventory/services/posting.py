"""Posting to the controlled-substance ledger: the one place an entry is written.

Quantities are parsed and checked here, the lot is locked, the balance is recomputed
under the lock and containers follow; witnesses are verified here too."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.accounts.roles import may
from ketaclinic.audit.services import hold_chain, record
from ketaclinic.inventory import ledger_chain
from ketaclinic.inventory.models import (
    Container,
    ContainerState,
    LedgerEntry,
    Location,
    Lot,
    Product,
    Unit,
)

from .stock import QUANT, current_balance, default_location


def _corrected() -> Exists:
    """True for an entry that a later entry reverses."""
    return Exists(LedgerEntry.objects.filter(corrects=OuterRef("pk")))


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
    if value > now + timedelta(minutes=5):
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


def _draw(
    actor: Actor, lot: Lot, location: Location | None, quantity: Any, unit: str | None = None
) -> tuple[Location, Decimal]:
    """Where stock leaves and how much, checked, once the actor may record on the ledger."""
    actor.check("ledger.record")
    return _place(actor, lot, location), _quantity(lot.product, quantity, unit)


def _post_out(
    *,
    actor: Actor,
    lot: Lot,
    location: Location,
    kind: str,
    quantity: Decimal,
    cosigner: User | None = None,
    **fields: Any,
) -> LedgerEntry:
    """Post stock leaving ``location`` (``_post`` with sign -1, in the caller's transaction).

    A ``cosigner`` (checked by ``_cosigned``) witnesses the entry now.
    """
    if cosigner is not None:
        fields.update(witness=cosigner, witnessed_at=timezone.now())
    return _post(
        actor=actor, lot=lot, location=location, kind=kind, quantity=quantity, sign=-1, **fields
    )


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
