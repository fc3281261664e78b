"""Billing under /api/v1/: a visit's charges, approval, claims and their 837P, superbills,
payments and balances (issue 20). The same services as the pages; every read is audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status

from ketaclinic.accounts.access import ClinicRequest, get_for
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.audit.services import record
from ketaclinic.billing import pdf, services, x12
from ketaclinic.billing.models import BillingProfile, Charge, Claim, Payer
from ketaclinic.patients.access import get_patient_for
from ketaclinic.scheduling.models import Appointment

router = Router(tags=["billing"])


class ChargeLineOut(Schema):
    id: int
    code: str
    modifiers: list[str]
    units: Decimal
    ndc: str
    diagnosis_pointers: list[int]
    price: Decimal | None
    status: str
    version: int


class ChargeConflictOut(Schema):
    """409: the line changed since the client loaded it (which versions, what to do)."""

    detail: str


class VisitChargesOut(Schema):
    appointment_id: int
    diagnoses: list[str]
    lines: list[ChargeLineOut]


class ChargeEditIn(StrictIn):
    """The staff page's line edit: the fields sent change, the reason is required."""

    code: str | None = Field(None, max_length=5)
    modifiers: list[Annotated[str, Field(pattern="^[A-Za-z0-9]{2}$")]] | None = Field(
        None, max_length=4
    )
    units: Decimal | None = Field(None, gt=0, le=99999)
    ndc: str | None = Field(None, max_length=13)
    ndc_quantity: Decimal | None = Field(None, ge=0, le=99999)
    diagnosis_pointers: list[int] | None = Field(None, min_length=1, max_length=4)
    reason: str = Field(..., min_length=1, max_length=300)
    version: int | None = Field(
        None,
        ge=1,
        description="The line's version you loaded (or send it as If-Match); a stale one "
        "answers 409 and changes nothing.",
    )


class ClaimCreateIn(StrictIn):
    charges: list[int] = Field(..., min_length=1, max_length=50)


class ClaimCreatedOut(Schema):
    id: int
    status: str


class ClaimDetailOut(Schema):
    id: int
    status: str
    patient_id: int
    payer: str
    frequency_code: str
    replaces_id: int | None
    payer_claim_number: str
    total: Decimal
    control_number: str
    lines: list[ChargeLineOut]
    problems: list[str]


class PaymentIn(StrictIn):
    patient_id: int
    amount: Decimal = Field(..., gt=0, le=100000, decimal_places=2)
    source: str = Field("patient", pattern="^(patient|payer)$")
    payer_id: int | None = None
    method: str = Field("card", pattern="^(card|cash|check|eft|era)$")
    reference: str = Field("", max_length=50)
    received_on: date | None = None
    charges: list[int] = Field(default_factory=list, max_length=50)


class PaymentOut(Schema):
    id: int
    patient_id: int
    amount: Decimal
    balance: Decimal


class PatientBalanceOut(Schema):
    patient_id: int
    charged: Decimal
    paid: Decimal
    adjusted: Decimal
    balance: Decimal


class SuperbillQuery(Schema):
    from_: date | None = Field(None, alias="from")
    to: date | None = None


def _line(charge: Charge) -> dict[str, Any]:
    return {
        "id": charge.pk,
        "code": charge.code,
        "modifiers": list(charge.modifiers),
        "units": charge.units,
        "ndc": charge.ndc,
        "diagnosis_pointers": list(charge.diagnosis_pointers),
        "price": charge.price,
        "status": charge.status,
        "version": charge.version,
    }


@router.get(
    "/appointments/{appointment_id}/charges",
    response=VisitChargesOut,
    auth=allow("billing.view"),
)
def visit_charges(request: ClinicRequest, appointment_id: int) -> dict[str, Any]:
    actor = request.auth
    appointment = get_for(actor, Appointment, appointment_id, "billing.view", what="appointment")
    lines = list(services.charges_for_visit(actor.clinic, appointment.pk))
    record(
        actor,
        "billing_view",
        patient_id=appointment.patient_id,
        obj=appointment,
        detail={"what": "charges"},
    )
    return {
        "appointment_id": appointment.pk,
        "diagnoses": list(lines[0].diagnoses) if lines else [],
        "lines": [_line(c) for c in lines],
    }


@router.post("/charges/{charge_id}/approve", response=ChargeLineOut, auth=allow("billing.approve"))
def approve(request: ClinicRequest, charge_id: int) -> dict[str, Any]:
    actor = request.auth
    charge = get_for(actor, Charge, charge_id, "billing.approve", what="charge")
    return _line(services.approve_charge(actor=actor, charge=charge))


def _loaded_version(request: ClinicRequest, payload: ChargeEditIn) -> int:
    """The version the client loaded: the body's `version` or an If-Match header ("3", W/"3")."""
    header = request.headers.get("If-Match", "").strip().removeprefix("W/").strip('"')
    if header and not header.isdigit():
        raise ValidationError({"version": 'If-Match carries the line\'s version, e.g. "3".'})
    from_header = int(header) if header else None
    if payload.version is not None and from_header is not None and payload.version != from_header:
        raise ValidationError({"version": "The version and the If-Match header disagree."})
    version = payload.version if payload.version is not None else from_header
    if version is None:
        raise ValidationError(
            {"version": "Send the line's version you loaded (`version` or If-Match)."}
        )
    return version


@router.patch(
    "/charges/{charge_id}",
    response={200: ChargeLineOut, 409: ChargeConflictOut},
    auth=allow("billing.review"),
)
def edit_charge(request: ClinicRequest, charge_id: int, payload: ChargeEditIn) -> dict[str, Any]:
    """Change a line with a reason (an approved line goes back to proposed for review)."""
    actor = request.auth
    charge = get_for(actor, Charge, charge_id, "billing.review", what="charge")
    version = _loaded_version(request, payload)
    changes = payload.model_dump(exclude_unset=True, exclude={"reason", "version"})
    empty = [key for key, value in changes.items() if value is None and key != "ndc_quantity"]
    if empty:
        raise ValidationError({key: "This field cannot be empty." for key in empty})
    edited = services.edit_charge(
        actor=actor, charge=charge, changes=changes, reason=payload.reason, version=version
    )
    return _line(edited)


def _claim_detail(claim: Claim) -> dict[str, Any]:
    profile = BillingProfile.objects.filter(clinic_id=claim.clinic_id).first()
    return {
        "id": claim.pk,
        "status": claim.status,
        "patient_id": claim.patient_id,
        "payer": claim.coverage.payer.name,
        "frequency_code": claim.frequency_code,
        "replaces_id": claim.replaces_id,
        "payer_claim_number": claim.payer_claim_number,
        "total": claim.total,
        "control_number": claim.control_number,
        "lines": [_line(c) for c in claim.charges.order_by("service_date", "position", "pk")],
        "problems": x12.problems(profile, [claim]),
    }


@router.post("/claims", response={201: ClaimCreatedOut}, auth=allow("billing.claim"))
def create_claim(request: ClinicRequest, payload: ClaimCreateIn) -> Status:
    claim = services.create_claim(actor=request.auth, charge_ids=payload.charges)
    return Status(201, {"id": claim.pk, "status": claim.status})


def _claim_for(request: ClinicRequest, claim_id: int, action: str) -> Claim:
    return get_for(
        request.auth, Claim, claim_id, action, related=("coverage__payer", "patient"), what="claim"
    )


@router.get("/claims/{claim_id}", response=ClaimDetailOut, auth=allow("billing.view"))
def claim_detail(request: ClinicRequest, claim_id: int) -> dict[str, Any]:
    claim = _claim_for(request, claim_id, "billing.view")
    record(request.auth, "billing_view", patient_id=claim.patient_id, obj=claim)
    return _claim_detail(claim)


@router.get("/claims/{claim_id}/x12", auth=allow("billing.claim"))
def claim_x12(request: ClinicRequest, claim_id: int) -> HttpResponse:
    """The claim as an 837P file (text/plain); 422 with the problems when it cannot go."""
    actor = request.auth
    claim = _claim_for(request, claim_id, "billing.claim")
    profile = BillingProfile.objects.filter(clinic=actor.clinic).first()
    problems = x12.problems(profile, [claim])
    if problems or profile is None:
        raise ValidationError({"claim": " ".join(problems)})
    record(actor, "claim_export", patient_id=claim.patient_id, obj=claim)
    response = HttpResponse(
        x12.render(profile, [claim], control=claim.pk), content_type="text/plain; charset=ascii"
    )
    response["Content-Disposition"] = f'attachment; filename="claim-{claim.pk}.837"'
    return response


@router.get("/patients/{patient_id}/superbill", auth=allow("billing.superbill"))
def superbill(
    request: ClinicRequest, patient_id: int, query: Query[SuperbillQuery]
) -> HttpResponse:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "billing.superbill")
    if query.from_ and query.to and query.from_ > query.to:
        raise ValidationError({"from": "The start is after the end."})
    record(
        actor,
        "download",
        patient_id=patient.pk,
        obj=patient,
        detail={"format": "pdf", "what": "superbill"},
    )
    response = HttpResponse(
        pdf.superbill_pdf(patient, query.from_, query.to), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="superbill-{patient.pk}.pdf"'
    return response


@router.post("/payments", response={201: PaymentOut}, auth=allow("billing.payment"))
def create_payment(request: ClinicRequest, payload: PaymentIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, payload.patient_id, "billing.payment")
    payer = None
    if payload.payer_id is not None:
        payer = get_for(actor, Payer, payload.payer_id, None, what="payer")
    payment = services.record_payment(
        actor=actor,
        patient=patient,
        amount=payload.amount,
        source=payload.source,
        payer=payer,
        method=payload.method,
        reference=payload.reference,
        received_on=payload.received_on,
        charge_ids=payload.charges,
    )
    balance = services.balance_of(actor.clinic, patient.pk)
    return Status(
        201,
        {
            "id": payment.pk,
            "patient_id": patient.pk,
            "amount": payment.amount,
            "balance": balance.balance,
        },
    )


@router.get(
    "/patients/{patient_id}/balance", response=PatientBalanceOut, auth=allow("billing.view")
)
def patient_balance(request: ClinicRequest, patient_id: int) -> dict[str, Any]:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "billing.view")
    balance = services.balance_of(actor.clinic, patient.pk)
    record(actor, "billing_view", patient_id=patient.pk, obj=patient, detail={"what": "balance"})
    return {
        "patient_id": patient.pk,
        "charged": balance.charged,
        "paid": balance.paid,
        "adjusted": balance.adjusted,
        "balance": balance.balance,
    }
