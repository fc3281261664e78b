"""835 remittance files (005010X221A1) read with pyx12 and posted as payer payments.

Each CLP names our claim (CLP01 is the claim's control number), what the payer paid
(CLP04) and its own claim number (CLP07, kept for a later correction's REF*F8). Group
code CO adjustments (contractual) are written off; PR (patient responsibility) stays owed
by the patient. A CLP that matches no claim of this clinic is reported, not guessed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import pyx12.errors
import pyx12.x12file
from django.core.exceptions import ValidationError
from django.db import transaction

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.billing import services
from ketaclinic.billing.models import Claim

MAX_BYTES = 2_000_000


@dataclass
class ClaimRemit:
    control_number: str
    status: str
    charged: Decimal
    paid: Decimal
    payer_claim_number: str
    contractual: Decimal = Decimal(0)
    patient_owes: Decimal = Decimal(0)
    reasons: list[str] = field(default_factory=list)


def _dec(text: str | None) -> Decimal:
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        return Decimal(0)


def parse(text: str) -> list[ClaimRemit]:
    """The claims an 835 pays or denies (ValidationError if it is not a readable X12 file)."""
    found: list[ClaimRemit] = []
    current: ClaimRemit | None = None
    try:
        reader = pyx12.x12file.X12Reader(io.StringIO(text))
        for seg in reader:
            sid = seg.get_seg_id()
            if sid == "CLP":
                current = ClaimRemit(
                    control_number=seg.get_value("CLP01") or "",
                    status=seg.get_value("CLP02") or "",
                    charged=_dec(seg.get_value("CLP03")),
                    paid=_dec(seg.get_value("CLP04")),
                    payer_claim_number=seg.get_value("CLP07") or "",
                )
                found.append(current)
            elif sid == "CAS" and current is not None:
                group = seg.get_value("CAS01")
                for reason, amount in ((2, 3), (5, 6), (8, 9)):
                    value = _dec(seg.get_value(f"CAS{amount:02d}"))
                    if not value:
                        continue
                    current.reasons.append(f"{group}-{seg.get_value(f'CAS{reason:02d}')}")
                    if group == "CO":
                        current.contractual += value
                    elif group == "PR":
                        current.patient_owes += value
    except (pyx12.errors.X12Error, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise ValidationError({"file": f"This is not a readable 835 file ({exc})."}) from None
    if not found:
        raise ValidationError({"file": "No claim payments (CLP) in this file."})
    return found


@dataclass
class PostResult:
    posted: list[int] = field(default_factory=list)  # claim ids
    unmatched: list[str] = field(default_factory=list)  # control numbers


def post(*, actor: Actor, text: str, reference: str = "") -> PostResult:
    """Post every CLP of the file in one transaction (all or nothing)."""
    actor.check("billing.claim")
    if len(text) > MAX_BYTES:
        raise ValidationError({"file": "The file is larger than 2 MB."})
    remits = parse(text)
    result = PostResult()
    with transaction.atomic():
        for remit in remits:
            claim = (
                Claim.objects.for_clinic(actor.clinic)
                .select_related("coverage__payer", "patient")
                .filter(pk=_claim_pk(actor, remit.control_number))
                .first()
            )
            if claim is None:
                result.unmatched.append(remit.control_number[:40])
                continue
            if remit.paid > 0:
                services.record_payment(
                    actor=actor,
                    patient=claim.patient,
                    amount=remit.paid,
                    source="payer",
                    payer=claim.coverage.payer,
                    method="era",
                    reference=(reference or remit.payer_claim_number)[:50],
                    charge_ids=list(claim.charges.values_list("pk", flat=True)),
                    claim=claim,
                    adjustment=remit.contractual,
                )
            Claim.objects.filter(pk=claim.pk).update(
                payer_claim_number=remit.payer_claim_number[:50] or claim.payer_claim_number,
                status=(
                    "denied" if remit.status == "4" else "paid" if remit.paid > 0 else claim.status
                ),
                status_note=("835: " + ", ".join(remit.reasons))[:300],
            )
            result.posted.append(claim.pk)
        record(
            actor,
            "remittance_import",
            detail={"claims": result.posted, "unmatched": len(result.unmatched)},
        )
    return result


def _claim_pk(actor: Actor, control: str) -> int:
    prefix = f"KC{actor.clinic.pk}C"
    if not control.startswith(prefix) or not control[len(prefix) :].isdigit():
        return 0
    return int(control[len(prefix) :])
