"""Demo: one restricted chart (a staff member who is also a patient) and its break-glass trail.

Its care team is Dr Chen and Nurse Okafor. Anyone else (therapist.rivera, frontdesk.lee,
admin) meets the break-glass form; admin's review list holds one opening waiting for review
and one reviewed. Idempotent: an existing chart is left as it is.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.patients.models import BreakGlass, CareTeamMember, Patient

MRN = "RS-000001"


@transaction.atomic
def seed(clinic: Any) -> None:
    if Patient.objects.filter(clinic=clinic, mrn=MRN).exists():
        return
    members = {
        m.user.username: m for m in Membership.objects.filter(clinic=clinic).select_related("user")
    }
    team = [members[name] for name in ("dr.chen", "nurse.okafor") if name in members]
    if not team:
        return
    patient = Patient.objects.create(
        clinic=clinic,
        mrn=MRN,
        given_name="Robin",
        family_name="Ashdown",
        birth_date=date(1981, 9, 14),
        sex_at_birth="male",
        email="robin.ashdown@example.org",
        phone="+1 207 555 0177",
        address="12 Fore Street, Portland, ME 04101",
        weight_kg=78,
        weight_measured_on=clinic.today() - timedelta(days=6),
        height_cm=180,
        status="active",
        restricted=True,
    )
    CareTeamMember.objects.bulk_create(
        [CareTeamMember(clinic=clinic, patient=patient, membership=m) for m in team]
    )
    now = timezone.now()
    therapist, desk, admin = (
        members.get(n) for n in ("therapist.rivera", "frontdesk.lee", "admin")
    )
    if desk and admin:
        opened = now - timedelta(days=3, hours=2)
        BreakGlass.objects.create(
            clinic=clinic,
            patient=patient,
            membership=desk,
            reason="Patient phoned to move an appointment; needed the booking details.",
            opened_at=opened,
            expires_at=opened + timedelta(minutes=30),
            reviewed_at=opened + timedelta(hours=20),
            reviewed_by=admin,
            review_note="Appropriate: rebooking on the patient's own request.",
        )
    if therapist:
        opened = now - timedelta(hours=5)
        BreakGlass.objects.create(
            clinic=clinic,
            patient=patient,
            membership=therapist,
            reason="Covering the integration session today; needed the last PHQ-9.",
            opened_at=opened,
            expires_at=opened + timedelta(minutes=30),
        )
