"""Fetch treatment sessions only through the acting user's clinic and role (404 outside it)."""

from __future__ import annotations

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.patients.restricted import check_chart
from ketaclinic.treatment.models import RemsForm, TreatmentSession

# The patient's clinic too: the header dates the patient's age by the clinic's day.
PAGE_RELATED = ("patient", "patient__clinic", "room", "course", "appointment", "clinic")
# A vital-signs reading needs the chart guard (patient) and the protocol (course) only.
VITALS_RELATED = ("patient", "course")


def _session_guard(actor: Actor, session: TreatmentSession) -> None:
    check_chart(actor, session.patient)


def get_session_for(
    actor: Actor,
    session_id: int | str,
    action: str = "clinical.view",
    *,
    read: str | bool = False,
    related: tuple[str, ...] = PAGE_RELATED,
) -> TreatmentSession:
    """The session with this id in the actor's clinic, or 404; PermissionDenied if the role may not.

    `read` audits the read here ("api", "summary_pdf"; see accounts.access.get_for).
    `related` are the rows loaded with it: what the session page shows by default.
    """
    return get_for(
        actor,
        TreatmentSession,
        session_id,
        action,
        related=related,
        what="treatment session",
        guard=_session_guard,
        read=read,
    )


def get_rems_form_for(actor: Actor, form_id: int | str, action: str = "rems.manage") -> RemsForm:
    """The REMS form with this id in the actor's clinic, or 404."""
    found = get_for(
        actor, RemsForm, form_id, action, related=("session__patient", "session"), what="REMS form"
    )
    check_chart(actor, found.session.patient)
    return found
