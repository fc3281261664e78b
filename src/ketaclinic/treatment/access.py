"""Fetch treatment sessions only through the acting user's clinic and role (404 outside it)."""

from __future__ import annotations

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.patients.restricted import check_chart
from ketaclinic.treatment.models import RemsForm, TreatmentSession


def get_session_for(
    actor: Actor, session_id: int | str, action: str = "clinical.view"
) -> TreatmentSession:
    """The session with this id in the actor's clinic, or 404; PermissionDenied if the role may not."""
    found = get_for(
        actor,
        TreatmentSession,
        session_id,
        action,
        related=("patient", "room", "course", "appointment", "clinic"),
        what="treatment session",
    )
    check_chart(actor, found.patient)
    return found


def get_rems_form_for(actor: Actor, form_id: int | str, action: str = "rems.manage") -> RemsForm:
    """The REMS form with this id in the actor's clinic, or 404."""
    found = get_for(
        actor, RemsForm, form_id, action, related=("session__patient", "session"), what="REMS form"
    )
    check_chart(actor, found.session.patient)
    return found
