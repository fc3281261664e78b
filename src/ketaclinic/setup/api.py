"""The set-up pages' API twins: clinic profile, staff, rooms, closures, storage, checklist."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from django.http import Http404
from ninja import Router, Schema, Status
from pydantic import EmailStr, Field

from ketaclinic.accounts import services as accounts
from ketaclinic.accounts.access import Actor, ClinicRequest
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.inventory import services as inventory_services
from ketaclinic.inventory.models import Location, Product
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.access import get_closure_for, get_room_for
from ketaclinic.scheduling.models import ClinicClosure
from ketaclinic.scheduling.schemas import RoomOut
from ketaclinic.setup.checklist import checklist, mark_consent_reviewed
from ketaclinic.setup.staff_views import get_member_for

router = Router(tags=["set-up"])
StaffRole = Literal["admin", "physician", "nurse", "therapist", "front_desk"]


class ClinicOut(Schema):
    id: int
    slug: str
    name: str
    address: str
    phone: str
    timezone: str
    dea_registration: str
    rems_certification_number: str
    rems_certified_on: date | None
    has_logo: bool
    require_two_factor: bool
    two_factor_grace_days: int


class ClinicPatch(StrictIn):
    name: Annotated[str, Field(max_length=200)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    dea_registration: Annotated[str, Field(max_length=20)] | None = None
    rems_certification_number: Annotated[str, Field(max_length=40)] | None = None
    rems_certified_on: date | None = None


def _clinic_out(clinic: Clinic) -> dict:
    return {
        **{f: getattr(clinic, f) for f in ClinicOut.model_fields if hasattr(clinic, f)},
        "has_logo": bool(clinic.logo),
    }


@router.get("/clinic", response=ClinicOut, auth=allow("schedule.view"))
def read_clinic(request: ClinicRequest) -> dict:
    return _clinic_out(Clinic.objects.get(pk=request.auth.clinic.pk))


@router.patch("/clinic", response=ClinicOut, auth=allow("floor.manage"))
def patch_clinic(request: ClinicRequest, payload: ClinicPatch) -> dict:
    changes = payload.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    # null clears a text field (the columns hold "" for "none"), as an empty string does.
    for field in ("address", "phone", "dea_registration", "rems_certification_number"):
        if field in changes and changes[field] is None:
            changes[field] = ""
    if changes.get("timezone", "") is None:
        changes.pop("timezone")
    clinic = accounts.update_clinic_profile(actor=request.auth, **changes)
    return _clinic_out(clinic)


class StepOut(Schema):
    key: str
    title: str
    done: bool
    detail: str


@router.get("/setup/checklist", response=list[StepOut], auth=allow("floor.manage"))
def read_checklist(request: ClinicRequest) -> list:
    return checklist(request.auth.clinic)


class ReviewedOut(Schema):
    versions: dict[str, int]


@router.post("/setup/consent-templates/reviewed", response=ReviewedOut, auth=allow("floor.manage"))
def consent_reviewed(request: ClinicRequest) -> dict:
    return {"versions": mark_consent_reviewed(request.auth)}


class ConsentTemplateOut(Schema):
    family: str
    version: int
    title: str
    clinic_copy: bool = Field(description="true when this is the clinic's own version")
    text: str = Field(description="the Markdown text with {{ clinic_name }} unfilled")
    risks: list[dict[str, str]]


class ConsentVersionIn(StrictIn):
    title: str | None = Field(None, max_length=200, description="unchanged when left out")
    text: str | None = Field(None, max_length=20_000, description="unchanged when left out")


def _consent_out(actor: Actor) -> list[dict]:
    from ketaclinic.screening.clinic_consent import clinic_copies, templates_for

    copies = clinic_copies(actor.clinic)
    return [
        {
            "family": t.family,
            "version": t.version,
            "title": t.title,
            "clinic_copy": bool(copies.get(t.family)) and copies[t.family][0].version == t.version,
            "text": t.body,
            "risks": [{"id": r.id, "text": r.text} for r in t.risks],
        }
        for t in templates_for(actor.clinic).values()
    ]


@router.get(
    "/setup/consent-templates", response=list[ConsentTemplateOut], auth=allow("floor.manage")
)
def consent_templates(request: ClinicRequest) -> list[dict]:
    """The consent texts patients sign now: shipped, or the clinic's own newer version."""
    return _consent_out(request.auth)


@router.post(
    "/setup/consent-templates/{family}/versions",
    response={201: ConsentTemplateOut},
    auth=allow("floor.manage"),
)
def consent_version(request: ClinicRequest, family: str, payload: ConsentVersionIn) -> Status:
    """Add the clinic's next version (a plain copy when title and text are left out)."""
    from ketaclinic.screening.clinic_consent import save_clinic_version

    row = save_clinic_version(
        actor=request.auth,
        family=family,
        title=payload.title,
        body=payload.text,
    )
    current = next(t for t in _consent_out(request.auth) if t["family"] == row.family)
    return Status(201, current)


# --- staff ------------------------------------------------------------------------------


class StaffOut(Schema):
    id: int
    username: str
    first_name: str
    last_name: str
    email: str
    role: str
    active: bool


class StaffIn(StrictIn):
    username: Annotated[str, Field(min_length=1, max_length=150)]
    first_name: Annotated[str, Field(min_length=1, max_length=150)]
    last_name: Annotated[str, Field(min_length=1, max_length=150)]
    email: EmailStr | Literal[""] = ""
    role: StaffRole
    password: Annotated[str, Field(max_length=200)] | None = None


class StaffPatch(StrictIn):
    first_name: Annotated[str, Field(min_length=1, max_length=150)] | None = None
    last_name: Annotated[str, Field(min_length=1, max_length=150)] | None = None
    email: EmailStr | Literal[""] | None = None
    role: StaffRole | None = None


class DoneOut(Schema):
    detail: str


def _staff_out(m: Membership) -> dict:
    u = m.user
    return {
        "id": m.pk,
        "username": u.username,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "email": u.email,
        "role": m.role,
        "active": m.is_active,
    }


@router.get("/staff", response=list[StaffOut], auth=allow("staff.manage"))
def list_staff(request: ClinicRequest) -> list:
    found = (
        Membership.objects.filter(clinic=request.auth.clinic)
        .exclude(role="patient")
        .select_related("user")
        .order_by("-is_active", "user__last_name", "pk")
    )
    return [_staff_out(m) for m in found]


@router.post("/staff", response={201: StaffOut}, auth=allow("staff.manage"))
def add_staff(request: ClinicRequest, payload: StaffIn) -> Status:
    membership, _ = accounts.add_staff_member(actor=request.auth, **payload.model_dump())
    return Status(201, _staff_out(membership))


@router.patch("/staff/{membership_id}", response=StaffOut, auth=allow("staff.manage"))
def patch_staff(request: ClinicRequest, membership_id: int, payload: StaffPatch) -> dict:
    actor = request.auth
    member = get_member_for(actor, membership_id)
    accounts.update_staff(actor=actor, membership=member, **payload.model_dump(exclude_unset=True))
    member.refresh_from_db()
    member.user.refresh_from_db()
    return _staff_out(member)


@router.post("/staff/{membership_id}/deactivate", response=StaffOut, auth=allow("staff.manage"))
def deactivate(request: ClinicRequest, membership_id: int) -> dict:
    actor = request.auth
    member = get_member_for(actor, membership_id)
    return _staff_out(accounts.deactivate_staff(actor=actor, membership=member))


@router.post("/staff/{membership_id}/reactivate", response=StaffOut, auth=allow("staff.manage"))
def reactivate(request: ClinicRequest, membership_id: int) -> dict:
    actor = request.auth
    member = get_member_for(actor, membership_id)
    return _staff_out(accounts.reactivate_staff(actor=actor, membership=member))


@router.post("/staff/{membership_id}/password-reset", response=DoneOut, auth=allow("staff.manage"))
def password_reset(request: ClinicRequest, membership_id: int) -> dict:
    actor = request.auth
    accounts.send_password_reset(actor=actor, membership=get_member_for(actor, membership_id))
    return {"detail": "A password-reset link was e-mailed."}


@router.post("/staff/{membership_id}/unlock", response=DoneOut, auth=allow("staff.manage"))
def unlock(request: ClinicRequest, membership_id: int) -> dict:
    actor = request.auth
    cleared = accounts.unlock_staff(actor=actor, membership=get_member_for(actor, membership_id))
    return {"detail": f"{cleared} failed log-in record(s) cleared."}


@router.post(
    "/staff/{membership_id}/two-factor/reset", response=DoneOut, auth=allow("staff.manage")
)
def two_factor_reset(request: ClinicRequest, membership_id: int) -> dict:
    actor = request.auth
    accounts.reset_two_factor(actor=actor, membership=get_member_for(actor, membership_id))
    return {"detail": "Two-factor log-in reset."}


# --- rooms and closures -----------------------------------------------------------------


class RoomPatch(StrictIn):
    name: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    kind: Literal["treatment_chair", "consult_room"] | None = None
    active: bool | None = None
    position: Annotated[int, Field(ge=0, le=999)] | None = None


@router.patch("/rooms/{room_id}", response=RoomOut, auth=allow("floor.manage"))
def patch_room(request: ClinicRequest, room_id: int, payload: RoomPatch):
    actor = request.auth
    room = get_room_for(actor, room_id, "floor.manage")
    return scheduling.update_room(actor=actor, room=room, **payload.model_dump(exclude_unset=True))


class ClosureIn(StrictIn):
    starts_on: date
    ends_on: date | None = None
    reason: Annotated[str, Field(min_length=1, max_length=100)]


class ClosureOut(Schema):
    id: int
    starts_on: date
    ends_on: date
    reason: str


class ClosureCreated(ClosureOut):
    booked_on_these_days: int


@router.get("/closures", response=list[ClosureOut], auth=allow("schedule.view"))
def list_closures(request: ClinicRequest) -> list:
    actor = request.auth
    today = actor.clinic.today()
    return list(ClinicClosure.objects.for_clinic(actor.clinic).filter(ends_on__gte=today))


@router.post("/closures", response={201: ClosureCreated}, auth=allow("floor.manage"))
def add_closure(request: ClinicRequest, payload: ClosureIn) -> Status:
    closure = scheduling.add_closure(actor=request.auth, **payload.model_dump())
    closure.booked_on_these_days = scheduling.booked_on_closure(closure)  # type: ignore[attr-defined]
    return Status(201, closure)


@router.delete("/closures/{closure_id}", response={204: None}, auth=allow("floor.manage"))
def delete_closure(request: ClinicRequest, closure_id: int) -> Status:
    actor = request.auth
    scheduling.remove_closure(actor=actor, closure=get_closure_for(actor, closure_id))
    return Status(204, None)


# --- storage locations and products (in use or retired) -----------------------------


class LocationIn(StrictIn):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class LocationOut(Schema):
    id: int
    name: str
    is_active: bool


class InUseIn(StrictIn):
    in_use: bool


@router.get("/inventory/locations", response=list[LocationOut], auth=allow("ledger.view"))
def list_locations(request: ClinicRequest) -> list:
    return list(Location.objects.for_clinic(request.auth.clinic).order_by("name"))


@router.post("/inventory/locations", response={201: LocationOut}, auth=allow("inventory.setup"))
def add_location(request: ClinicRequest, payload: LocationIn) -> Status:
    return Status(
        201,
        inventory_services.create_location(actor=request.auth, name=payload.name),
    )


def _in_use(
    request: ClinicRequest, model: type[Location] | type[Product], item_id: int, in_use: bool
):
    actor = request.auth
    item = model.objects.for_clinic(actor.clinic).filter(pk=item_id).first()
    if item is None:
        raise Http404("Not found in this clinic.")
    inventory_services.set_in_use(actor=actor, item=item, in_use=in_use)
    return item


@router.patch(
    "/inventory/locations/{location_id}", response=LocationOut, auth=allow("inventory.setup")
)
def patch_location(request: ClinicRequest, location_id: int, payload: InUseIn):
    return _in_use(request, Location, location_id, payload.in_use)


class ProductState(Schema):
    id: int
    name: str
    is_active: bool


@router.patch(
    "/inventory/products/{product_id}", response=ProductState, auth=allow("inventory.setup")
)
def patch_product(request: ClinicRequest, product_id: int, payload: InUseIn):
    return _in_use(request, Product, product_id, payload.in_use)
