"""Demo data for clinic set-up (called by seed_demo after the treatment demo; idempotent).

Harbor Light's set-up checklist is complete: its registrations, two holiday closures
(the coming 25 December and 1 January, never today) and the consent templates
reviewed, and its own copy of the IV ketamine (pain) consent with a parking note.
Patients asked about allergies who have none read "No known allergies"; the newest
referral's allergies are still "not recorded". The demo's "today" is always an open day: when the demo is loaded on a
weekend, the clinic opens that weekday too (with its nurses and physician on shift),
so the day board and the chair board show a working day.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.models import AuditEvent
from ketaclinic.audit.services import record
from ketaclinic.clinical.dea import with_check_digit
from ketaclinic.scheduling.models import ClinicClosure, OpeningHours, StaffHours
from ketaclinic.setup.checklist import CONSENT_REVIEWED, ROSTERED

HOLIDAYS = [((12, 25), "Christmas Day"), ((1, 1), "New Year's Day")]


def seed(clinic: Any) -> None:
    today = clinic.today()
    _profile(clinic, today)
    _open_today(clinic, today)
    _closures(clinic, today)
    _consent_reviewed(clinic)
    _consent_copy(clinic)
    _no_known_allergies(clinic)


def _profile(clinic: Any, today: date) -> None:
    if not clinic.dea_registration:
        clinic.dea_registration = with_check_digit("FH482913")
        clinic.rems_certification_number = "SPR-HC-20417"
        clinic.rems_certified_on = date(2024, 3, 1)
        clinic.save(
            update_fields=["dea_registration", "rems_certification_number", "rems_certified_on"]
        )


def _open_today(clinic: Any, today: date) -> None:
    weekday = today.weekday()
    if not OpeningHours.objects.filter(clinic=clinic, weekday=weekday).exists():
        OpeningHours.objects.create(clinic=clinic, weekday=weekday, opens=time(8), closes=time(18))
    # The staff who work shifts here (not the outcomes history's second physician, added
    # later in the first seeding: a second seeding would otherwise roster him).
    on_shift = StaffHours.objects.filter(clinic=clinic).values("membership_id")
    for member in Membership.objects.active().filter(
        clinic=clinic, role__in=ROSTERED, pk__in=on_shift
    ):
        if member.role == "therapist":
            continue  # the weekend list is treatments: nurses and the physician
        if not StaffHours.objects.filter(membership=member, weekday=weekday).exists():
            StaffHours.objects.create(
                clinic=clinic, membership=member, weekday=weekday, starts=time(8), ends=time(18)
            )


def _closures(clinic: Any, today: date) -> None:
    for (month, day), reason in HOLIDAYS:
        when = date(today.year, month, day)
        if when <= today:
            when = date(today.year + 1, month, day)
        ClinicClosure.objects.get_or_create(
            clinic=clinic, starts_on=when, defaults={"ends_on": when, "reason": reason}
        )


def _consent_reviewed(clinic: Any) -> None:
    if AuditEvent.objects.filter(clinic_id=clinic.pk, action=CONSENT_REVIEWED).exists():
        return
    admin = Membership.objects.select_related("user", "clinic").filter(clinic=clinic, role="admin")
    found = admin.first()
    if found is not None:
        record(
            Actor(user=found.user, membership=found),
            CONSENT_REVIEWED,
            object_type="screening.consenttemplate",
            detail={"demo": True},
        )


def _consent_copy(clinic: Any) -> None:
    from ketaclinic.screening.clinic_consent import save_clinic_version, templates_for
    from ketaclinic.screening.models import ClinicConsentTemplate

    if ClinicConsentTemplate.objects.filter(clinic=clinic).exists():
        return
    found = Membership.objects.select_related("user", "clinic").filter(clinic=clinic, role="admin")
    admin = found.first()
    if admin is None:
        return
    current = templates_for(clinic)["ketamine-iv-pain"]
    save_clinic_version(
        actor=Actor(user=admin.user, membership=admin),
        family="ketamine-iv-pain",
        body=current.body.rstrip()
        + "\n\n## On the day\n\nYour escort may park in the clinic's two bays at the back.\n",
    )


def _no_known_allergies(clinic: Any) -> None:
    from ketaclinic.patients.models import Patient

    unasked = Patient.objects.filter(clinic=clinic).order_by("-created_at", "-pk").first()
    asked = Patient.objects.filter(clinic=clinic, allergies_reported="").exclude(
        allergies__is_active=True
    )
    if unasked is not None:
        asked = asked.exclude(pk=unasked.pk)
    asked.update(no_known_allergies=True)
