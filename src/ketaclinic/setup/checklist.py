"""The set-up checklist of a new clinic, derived from its data (no stored flags)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.audit.models import AuditEvent
from ketaclinic.inventory.models import Location, Product
from ketaclinic.scheduling.models import OpeningHours, Room, RoomKind, StaffHours

# Roles that work on the floor and so need working hours for the booking checks.
ROSTERED = ("physician", "nurse", "therapist")
CONSENT_REVIEWED = "consent_templates_reviewed"


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str
    url_name: str


def checklist(clinic: Clinic) -> list[Step]:
    """Each set-up step, in the order a new clinic does them, ticked when its data is there."""
    chairs = consults = 0
    for kind in Room.objects.for_clinic(clinic).filter(active=True).values_list("kind", flat=True):
        if kind == RoomKind.TREATMENT_CHAIR:
            chairs += 1
        else:
            consults += 1
    staff = list(
        Membership.objects.active()
        .filter(clinic=clinic, role__in=ROSTERED)
        .values_list("pk", "role")
    )
    roles = {role for _, role in staff}
    with_hours = set(
        StaffHours.objects.filter(clinic=clinic, membership__in=[pk for pk, _ in staff])
        .values_list("membership_id", flat=True)
        .distinct()
    )
    without_hours = len(staff) - len(with_hours)
    products = Product.objects.for_clinic(clinic).filter(is_active=True).count()
    locations = Location.objects.for_clinic(clinic).filter(is_active=True).count()
    opening_days = len(
        set(OpeningHours.objects.filter(clinic=clinic).values_list("weekday", flat=True))
    )
    reviewed = AuditEvent.objects.filter(clinic_id=clinic.pk, action=CONSENT_REVIEWED).exists()
    missing_staff = [
        label
        for role, label in (("physician", "a physician"), ("nurse", "a nurse"))
        if role not in roles
    ]
    return [
        Step(
            "profile",
            "Clinic profile",
            bool(clinic.address and clinic.phone),
            "Address, phone, time zone and registrations."
            if not (clinic.address and clinic.phone)
            else f"{clinic.name}, {clinic.timezone}.",
            "setup_profile",
        ),
        Step(
            "rooms",
            "Rooms and chairs",
            chairs > 0 and consults > 0,
            f"{chairs} treatment chair{'s' if chairs != 1 else ''}, "
            f"{consults} consult room{'s' if consults != 1 else ''}"
            + ("." if chairs and consults else " (at least one of each)."),
            "setup_rooms",
        ),
        Step(
            "hours",
            "Opening hours",
            opening_days > 0,
            f"Open {opening_days} day{'s' if opening_days != 1 else ''} a week."
            if opening_days
            else "Not set: nothing can be booked.",
            "setup_hours",
        ),
        Step(
            "staff",
            "Staff",
            not missing_staff,
            f"{len(staff)} clinical staff."
            if not missing_staff
            else "Add " + " and ".join(missing_staff) + ".",
            "staff",
        ),
        Step(
            "staff_hours",
            "Staff working hours",
            bool(staff) and without_hours == 0,
            "Everyone on the floor has working hours."
            if staff and not without_hours
            else f"{without_hours} of {len(staff)} clinical staff without hours."
            if staff
            else "Add clinical staff first.",
            "setup_staff_hours",
        ),
        Step(
            "inventory",
            "Drug products and storage",
            products > 0 and locations > 0,
            f"{products} product{'s' if products != 1 else ''}, "
            f"{locations} storage location{'s' if locations != 1 else ''}.",
            "setup_inventory",
        ),
        Step(
            "consent",
            "Consent templates",
            reviewed,
            "Reviewed." if reviewed else "Read the consent texts patients will sign.",
            "setup_consent",
        ),
    ]


def complete(steps: list[Step]) -> bool:
    return all(s.done for s in steps)


def mark_consent_reviewed(actor: Any) -> dict[str, int]:
    """Record that an admin read the consent templates in use (family -> version)."""
    from ketaclinic.audit.services import record
    from ketaclinic.screening.clinic_consent import templates_for

    actor.check("floor.manage")
    versions = {t.family: t.version for t in templates_for(actor.clinic).values()}
    record(
        actor,
        CONSENT_REVIEWED,
        object_type="screening.consenttemplate",
        detail={"versions": versions},
    )
    return versions
