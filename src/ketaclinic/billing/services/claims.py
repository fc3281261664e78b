"""Claims of approved lines: create, move through their statuses, correct (7) or void (8)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.billing.models import (
    CLAIM_NEXT,
    Charge,
    ChargeStatus,
    Claim,
)


def create_claim(*, actor: Actor, charge_ids: list[int]) -> Claim:
    """A draft claim of approved lines of one patient and one coverage, not already claimed."""
    actor.check("billing.claim")
    ids = sorted({int(i) for i in charge_ids})
    if not ids or len(ids) > 50:
        raise ValidationError({"charges": "Choose 1 to 50 approved charge lines."})
    with transaction.atomic():
        charges = list(
            Charge.objects.for_clinic(actor.clinic).select_for_update().filter(pk__in=ids)
        )
        if len(charges) != len(ids):
            raise ValidationError({"charges": "Some of these lines are not in this clinic."})
        if any(c.status != ChargeStatus.APPROVED for c in charges):
            raise ValidationError({"charges": "Only approved lines can be claimed."})
        if len({c.patient_id for c in charges}) != 1:
            raise ValidationError({"charges": "A claim is for one patient."})
        coverage_id = charges[0].coverage_id
        if coverage_id is None or any(c.coverage_id != coverage_id for c in charges):
            raise ValidationError(
                {"charges": "Self-pay lines get a superbill, not a claim; one coverage per claim."}
            )
        if any(c.claims.exclude(status="denied").exists() for c in charges):
            raise ValidationError({"charges": "A line is already on a claim."})
        claim = Claim.objects.create(
            clinic=actor.clinic,
            patient_id=charges[0].patient_id,
            coverage_id=coverage_id,
            total=sum((c.price or Decimal(0) for c in charges), Decimal(0)),
            created_by=actor.user,
            created_at=timezone.now(),
        )
        claim.charges.set(charges)
        record(actor, "claim_create", patient_id=claim.patient_id, obj=claim)
    return claim


def set_claim_status(
    *, actor: Actor, claim: Claim, status: str, note: str = "", payer_claim_number: str = ""
) -> Claim:
    actor.check("billing.claim")
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if status not in CLAIM_NEXT.get(locked.status, ()):
            raise ValidationError(
                {"status": f"A {locked.status} claim cannot become {status or 'nothing'}."}
            )
        locked.status = status
        locked.status_note = (note or "").strip()[:300]
        if payer_claim_number.strip():
            locked.payer_claim_number = payer_claim_number.strip()[:50]
        if status == "sent":
            locked.sent_at = timezone.now()
        locked.save()
        record(
            actor,
            "claim_status",
            patient_id=locked.patient_id,
            obj=locked,
            detail={"status": status},
        )
    return locked


def correct_claim(*, actor: Actor, claim: Claim, frequency_code: str) -> Claim:
    """A replacement (7) or void (8) of a claim the payer has: a new claim of the same lines."""
    actor.check("billing.claim")
    if frequency_code not in ("7", "8"):
        raise ValidationError({"frequency_code": "7 replaces the claim, 8 voids it."})
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if locked.status not in ("sent", "accepted", "denied", "paid"):
            raise ValidationError({"claim": "Only a claim the payer has can be corrected."})
        if locked.corrections.exists():
            raise ValidationError({"claim": "This claim is already corrected."})
        charges = list(locked.charges.exclude(status=ChargeStatus.VOID))
        new = Claim.objects.create(
            clinic=locked.clinic,
            patient_id=locked.patient_id,
            coverage_id=locked.coverage_id,
            frequency_code=frequency_code,
            replaces=locked,
            payer_claim_number=locked.payer_claim_number,
            total=sum((c.price or Decimal(0) for c in charges), Decimal(0)),
            created_by=actor.user,
            created_at=timezone.now(),
        )
        new.charges.set(charges)
        record(
            actor,
            "claim_create",
            patient_id=new.patient_id,
            obj=new,
            detail={"replaces": locked.pk, "frequency_code": frequency_code},
        )
    return new
