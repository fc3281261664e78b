"""API shapes for the controlled-substance ledger."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field, field_validator

from ketaclinic.api_safety import RecordId
from ketaclinic.api_schemas import StrictIn

Text = Annotated[str, Field(max_length=300)]


class ProductIn(StrictIn):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    ndc: Annotated[str, Field(max_length=13)]
    substance: Literal["ketamine", "esketamine"]
    unit: Literal["mL", "device"]
    mg_per_unit: Decimal
    units_per_container: Decimal
    form: Annotated[str, Field(max_length=100)] = ""
    strength: Annotated[str, Field(max_length=60)] = ""


class ProductOut(Schema):
    id: int
    name: str
    ndc: str
    substance: str
    unit: str
    mg_per_unit: Decimal
    units_per_container: Decimal
    form: str
    strength: str
    schedule: str


class SupplierIn(StrictIn):
    name: Annotated[str, Field(max_length=200)]
    address: Text
    dea_number: Annotated[str, Field(max_length=20)]


class ReceiptIn(StrictIn):
    product: int
    lot: Annotated[str, Field(min_length=1, max_length=60)]
    expiry: date
    containers: Annotated[int, Field(ge=1, le=10000)]
    supplier: SupplierIn
    invoice: Annotated[str, Field(max_length=100)] = ""
    location: int | None = None


class EntryOut(Schema):
    id: int
    kind: str
    product: int = Field(alias="product_id")
    lot: int = Field(alias="lot_id")
    lot_number: str = Field(alias="lot.number")
    location: int = Field(alias="location_id")
    quantity: Decimal
    unit: str = Field(alias="product.unit")
    mg: Decimal
    delta: Decimal
    balance_after: Decimal
    recorded_by: str = Field(alias="recorded_by.username")
    recorded_at: datetime
    occurred_at: datetime
    corrects: int | None = Field(alias="corrects_id")
    patient: int | None = Field(alias="patient_id")
    session_ref: str
    manner: str
    supplier_name: str
    supplier_address: str
    supplier_dea_number: str
    invoice: str
    containers: int | None
    witness_requested: int | None = Field(alias="witness_requested_id")
    witness: int | None = Field(alias="witness_id")
    witnessed_at: datetime | None
    awaiting_witness: bool
    reason: str


class BalanceOut(Schema):
    product: int
    product_name: str
    lot: int
    lot_number: str
    expiry: date
    location: int
    location_name: str
    unit: str
    quantity: Decimal
    mg: Decimal
    sealed_containers: int
    opened_containers: int


class WasteIn(StrictIn):
    lot: int
    quantity: Decimal
    unit: Literal["mL", "device"]
    manner: Annotated[str, Field(min_length=1, max_length=200)]
    witness: Annotated[str, Field(min_length=1, max_length=150)]
    patient: int | None = None
    session_ref: Annotated[str, Field(max_length=64)] = ""
    location: int | None = None


class WitnessIn(StrictIn):
    username: Annotated[str, Field(max_length=150)] = ""
    password: Annotated[str, Field(max_length=256)] = ""
    code: Annotated[str, Field(max_length=12)] = ""


class CountLineIn(StrictIn):
    lot: int
    counted: Annotated[Decimal, Field(ge=0)]
    estimated: bool = False
    sealed_containers: Annotated[int, Field(ge=0)] | None = None


class CountIn(StrictIn):
    location: int | None = None
    timing: Literal["opening", "closing"]
    kind: Literal["count", "initial", "inventory"] = "count"
    lines: list[CountLineIn]
    note: Annotated[str, Field(max_length=2000)] = ""


class CountLineOut(Schema):
    id: int
    lot: int = Field(alias="lot_id")
    counted: Decimal
    ledger_balance: Decimal
    discrepancy: Decimal
    estimated: bool
    sealed_containers: int | None


class CountOut(Schema):
    id: int
    location: int = Field(alias="location_id")
    kind: str
    timing: str
    counted_at: datetime
    counted_by: str = Field(alias="counted_by.username")
    lines: list[CountLineOut]


class LedgerFilters(Schema):
    product: RecordId | None = None
    lot: RecordId | None = None
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @field_validator("product", "lot", "from_", "to", mode="before")
    @classmethod
    def empty_is_absent(cls, value: object) -> object:
        """`?product=&lot=` (what a form sends for "any") means no filter, not an error."""
        return None if value == "" else value


class Cosign(StrictIn):
    """The second person's own credentials: their password, or a code from their authenticator."""

    witness: Annotated[str, Field(min_length=1, max_length=150)]
    witness_password: Annotated[str, Field(max_length=256)] = ""
    witness_code: Annotated[str, Field(max_length=12)] = ""


class AdministrationIn(StrictIn):
    lot: int
    quantity: Decimal
    unit: Literal["mL", "device"]
    patient: int
    session_ref: Annotated[str, Field(min_length=1, max_length=64)]
    given_at: datetime | None = None
    location: int | None = None


class DestroyIn(Cosign):
    lot: int
    quantity: Decimal
    manner: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(max_length=300)] = ""
    location: int | None = None


class ReturnIn(StrictIn):
    lot: int
    quantity: Decimal
    manner: Annotated[str, Field(min_length=1, max_length=200)]
    location: int | None = None


class AdjustIn(Cosign):
    lot: int
    delta: Decimal
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    location: int | None = None


class LossIn(StrictIn):
    lot: int
    quantity: Decimal
    circumstances: Annotated[str, Field(min_length=1, max_length=4000)]
    discovered_on: date | None = None
    theft_suspected: bool = False
    location: int | None = None


class LossOut(Schema):
    id: int
    entry: int = Field(alias="entry_id")
    discovered_on: date
    notice_due: date
    form106_due: date
    circumstances: str
    theft_suspected: bool
    notice_sent_at: datetime | None
    filed_at: datetime | None
    filed_reference: str


class LossFiledIn(StrictIn):
    reference: Annotated[str, Field(min_length=1, max_length=100)]


class TransferIn(StrictIn):
    lot: int
    containers: Annotated[int, Field(ge=1, le=10000)]
    from_location: int
    to_location: int


class CorrectIn(Cosign):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class ResolveIn(StrictIn):
    resolution: Literal["adjust", "loss"]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    witness: Annotated[str, Field(max_length=150)] = ""
    witness_password: Annotated[str, Field(max_length=256)] = ""
    witness_code: Annotated[str, Field(max_length=12)] = ""
    theft_suspected: bool = False
