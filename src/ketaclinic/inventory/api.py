"""Controlled-substance ledger API: /api/v1/inventory/…"""

from typing import cast

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import PageNumbers
from ketaclinic.audit.services import record
from ketaclinic.inventory import services
from ketaclinic.inventory.access import (
    get_count_line_for,
    get_entry_for,
    get_location_for,
    get_loss_report_for,
    get_lot_for,
    get_product_for,
)
from ketaclinic.inventory.schemas import (
    AdjustIn,
    AdministrationIn,
    BalanceOut,
    CorrectIn,
    CountIn,
    CountOut,
    DestroyIn,
    EntryOut,
    LedgerFilters,
    LossFiledIn,
    LossIn,
    LossOut,
    ProductIn,
    ProductOut,
    ReceiptIn,
    ResolveIn,
    ReturnIn,
    TransferIn,
    WasteIn,
    WitnessIn,
)

router = Router(tags=["inventory"])


def _in_clinic(fetch, actor, pk, field: str, action: str = "ledger.record"):
    """A referenced record of the clinic, or 422 naming the field (not 404: it is the body)."""
    from django.http import Http404

    try:
        return fetch(actor, pk, action)
    except Http404:
        raise ValidationError({field: "No such record in this clinic."}) from None


@router.post("/inventory/products", response={201: ProductOut}, auth=allow("inventory.setup"))
def create_product(request: ClinicRequest, payload: ProductIn) -> Status:
    product = services.create_product(actor=request.auth, **payload.dict())
    return Status(201, product)


@router.get("/inventory/products", response=list[ProductOut], auth=allow("ledger.view"))
def list_products(request: ClinicRequest):
    from ketaclinic.inventory.models import Product

    return list(Product.objects.for_clinic(request.auth.clinic).order_by("name"))


@router.post("/inventory/receipts", response={201: EntryOut}, auth=allow("ledger.record"))
def create_receipt(request: ClinicRequest, payload: ReceiptIn) -> Status:
    actor = request.auth
    product = _in_clinic(get_product_for, actor, payload.product, "product")
    location = (
        _in_clinic(get_location_for, actor, payload.location, "location")
        if payload.location
        else None
    )
    entry = services.receive(
        actor=actor,
        product=product,
        lot_number=payload.lot,
        expiry=payload.expiry,
        containers=payload.containers,
        supplier_name=payload.supplier.name,
        supplier_address=payload.supplier.address,
        supplier_dea_number=payload.supplier.dea_number,
        invoice=payload.invoice,
        location=location,
    )
    return Status(201, entry)


@router.get("/inventory/balances", response=list[BalanceOut], auth=allow("ledger.view"))
def list_balances(request: ClinicRequest):
    return [
        {
            "product": b.product.pk,
            "product_name": b.product.name,
            "lot": b.lot.pk,
            "lot_number": b.lot.number,
            "expiry": b.lot.expiry,
            "location": b.location.pk,
            "location_name": b.location.name,
            "unit": b.product.unit,
            "quantity": b.quantity,
            "mg": b.mg,
            "sealed_containers": b.sealed,
            "opened_containers": b.opened,
        }
        for b in services.balances(request.auth.clinic)
    ]


@router.post("/inventory/waste", response={201: EntryOut}, auth=allow("ledger.record"))
def create_waste(request: ClinicRequest, payload: WasteIn) -> Status:
    actor = request.auth
    lot = _in_clinic(get_lot_for, actor, payload.lot, "lot")
    location = (
        _in_clinic(get_location_for, actor, payload.location, "location")
        if payload.location
        else None
    )
    entry = services.post_waste_pending_witness(
        actor=actor,
        lot=lot,
        quantity=payload.quantity,
        unit=payload.unit,
        patient=payload.patient,
        session_ref=payload.session_ref,
        manner=payload.manner,
        witness=payload.witness,
        location=location,
    )
    return Status(201, entry)


@router.post("/inventory/waste/{entry_id}/witness", response=EntryOut, auth=allow("ledger.record"))
def witness_waste(request: ClinicRequest, entry_id: int, payload: WitnessIn):
    actor = request.auth
    entry = get_entry_for(actor, entry_id, "ledger.record")
    return services.confirm_waste_witness(
        actor=actor,
        entry=entry,
        request=request,
        username=payload.username,
        password=payload.password,
        code=payload.code,
    )


@router.post("/inventory/counts", response={201: CountOut}, auth=allow("ledger.record"))
def create_count(request: ClinicRequest, payload: CountIn) -> Status:
    actor = request.auth
    location = (
        _in_clinic(get_location_for, actor, payload.location, "location")
        if payload.location
        else services.default_location(actor.clinic)
    )
    lines = [
        {
            "lot": _in_clinic(get_lot_for, actor, line.lot, f"lines.{i}.lot"),
            "counted": line.counted,
            "estimated": line.estimated,
            "sealed_containers": line.sealed_containers,
        }
        for i, line in enumerate(payload.lines)
    ]
    session = services.record_count(
        actor=actor,
        location=location,
        timing=payload.timing,
        kind=payload.kind,
        lines=lines,
        note=payload.note,
    )
    return Status(201, session)


class AuditedLedgerPage(PageNumbers):
    """Page numbers; the page read is audited with the patients whose doses it shows."""

    def paginate_queryset(self, queryset, pagination, request: HttpRequest, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        patient_ids = sorted({e.patient_id for e in page["items"] if e.patient_id})
        record(
            cast(ClinicRequest, request).auth,
            "view",
            detail={"view": "ledger", "patients": patient_ids},
        )
        return page


@router.get("/inventory/ledger", response=list[EntryOut], auth=allow("ledger.view"))
@paginate(AuditedLedgerPage, page_size=50)
def list_ledger(request: ClinicRequest, filters: Query[LedgerFilters]):
    return services.ledger_entries(
        request.auth.clinic,
        product=filters.product,
        lot=filters.lot,
        start=filters.from_,
        end=filters.to,
    )


def _location(actor, pk):
    return _in_clinic(get_location_for, actor, pk, "location") if pk else None


@router.post("/inventory/administrations", response={201: EntryOut}, auth=allow("ledger.record"))
def create_administration(request: ClinicRequest, payload: AdministrationIn) -> Status:
    """A dose given in a treatment session (sessions post this themselves once they exist)."""
    actor = request.auth
    entry = services.post_administration(
        actor=actor,
        lot=_in_clinic(get_lot_for, actor, payload.lot, "lot"),
        quantity=payload.quantity,
        unit=payload.unit,
        patient=payload.patient,
        session_ref=payload.session_ref,
        given_at=payload.given_at,
        location=_location(actor, payload.location),
    )
    return Status(201, entry)


@router.post("/inventory/destructions", response={201: EntryOut}, auth=allow("ledger.record"))
def create_destruction(request: ClinicRequest, payload: DestroyIn) -> Status:
    actor = request.auth
    data = payload.dict(exclude={"lot", "location"})
    entry = services.destroy(
        actor=actor,
        request=request,
        lot=_in_clinic(get_lot_for, actor, payload.lot, "lot"),
        location=_location(actor, payload.location),
        **data,
    )
    return Status(201, entry)


@router.post("/inventory/returns", response={201: EntryOut}, auth=allow("ledger.record"))
def create_return(request: ClinicRequest, payload: ReturnIn) -> Status:
    actor = request.auth
    entry = services.return_stock(
        actor=actor,
        lot=_in_clinic(get_lot_for, actor, payload.lot, "lot"),
        quantity=payload.quantity,
        manner=payload.manner,
        location=_location(actor, payload.location),
    )
    return Status(201, entry)


@router.post("/inventory/adjustments", response={201: EntryOut}, auth=allow("ledger.record"))
def create_adjustment(request: ClinicRequest, payload: AdjustIn) -> Status:
    actor = request.auth
    data = payload.dict(exclude={"lot", "location"})
    entry = services.adjust(
        actor=actor,
        request=request,
        lot=_in_clinic(get_lot_for, actor, payload.lot, "lot"),
        location=_location(actor, payload.location),
        **data,
    )
    return Status(201, entry)


@router.post("/inventory/transfers", response={201: list[EntryOut]}, auth=allow("ledger.record"))
def create_transfer(request: ClinicRequest, payload: TransferIn) -> Status:
    actor = request.auth
    out, into = services.transfer(
        actor=actor,
        lot=_in_clinic(get_lot_for, actor, payload.lot, "lot"),
        from_location=_in_clinic(get_location_for, actor, payload.from_location, "from_location"),
        to_location=_in_clinic(get_location_for, actor, payload.to_location, "to_location"),
        containers=payload.containers,
    )
    return Status(201, [out, into])


@router.post(
    "/inventory/entries/{entry_id}/correction",
    response={201: EntryOut},
    auth=allow("ledger.record"),
)
def correct_entry(request: ClinicRequest, entry_id: int, payload: CorrectIn) -> Status:
    actor = request.auth
    entry = services.correct_entry(
        actor=actor,
        request=request,
        entry=get_entry_for(actor, entry_id, "ledger.record"),
        **payload.dict(),
    )
    return Status(201, entry)


@router.post(
    "/inventory/counts/lines/{line_id}/resolution",
    response={201: EntryOut},
    auth=allow("ledger.record"),
)
def resolve_count_line(request: ClinicRequest, line_id: int, payload: ResolveIn) -> Status:
    actor = request.auth
    entry = services.resolve_discrepancy(
        actor=actor, request=request, line=get_count_line_for(actor, line_id), **payload.dict()
    )
    return Status(201, entry)


@router.post("/inventory/losses", response={201: LossOut}, auth=allow("ledger.record"))
def create_loss(request: ClinicRequest, payload: LossIn) -> Status:
    actor = request.auth
    data = payload.dict(exclude={"lot", "location"})
    report = services.record_loss(
        actor=actor,
        lot=_in_clinic(get_lot_for, actor, payload.lot, "lot"),
        location=_location(actor, payload.location),
        **data,
    )
    return Status(201, report)


@router.get("/inventory/losses", response=list[LossOut], auth=allow("ledger.view"))
def list_losses(request: ClinicRequest):
    from ketaclinic.inventory.models import LossReport

    return list(
        LossReport.objects.for_clinic(request.auth.clinic).order_by("-discovered_on", "-id")
    )


@router.post("/inventory/losses/{report_id}/notice", response=LossOut, auth=allow("loss.record"))
def loss_notice_sent(request: ClinicRequest, report_id: int):
    actor = request.auth
    return services.mark_loss_notice_sent(actor=actor, report=get_loss_report_for(actor, report_id))


@router.post("/inventory/losses/{report_id}/filed", response=LossOut, auth=allow("loss.record"))
def loss_filed(request: ClinicRequest, report_id: int, payload: LossFiledIn):
    actor = request.auth
    return services.mark_loss_filed(
        actor=actor, report=get_loss_report_for(actor, report_id), reference=payload.reference
    )
