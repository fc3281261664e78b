"""How an individual preparation or integration session is held (in person or video)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.services import record
from ketaclinic.integration.circles import check_meeting_link
from ketaclinic.integration.models import SessionDetail
from ketaclinic.scheduling.models import THERAPY_KINDS, Appointment


@transaction.atomic
def set_format(
    *, actor: Actor, appointment: Appointment, mode: str, meeting_url: str = ""
) -> SessionDetail:
    actor.check("integration.circle")
    if appointment.clinic_id != actor.clinic.pk or appointment.kind not in THERAPY_KINDS:
        raise ValidationError({"appointment": "Choose a preparation or integration session."})
    meeting_url = check_meeting_link(mode, meeting_url)
    detail, _created = SessionDetail.objects.update_or_create(
        appointment=appointment,
        defaults={"clinic": actor.clinic, "mode": mode, "meeting_url": meeting_url},
    )
    record(
        actor,
        "session_format",
        patient_id=appointment.patient_id,
        obj=appointment,
        detail={"mode": mode},
    )
    return detail
