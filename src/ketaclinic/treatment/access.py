"""Fetch treatment sessions only through the acting user's clinic and role (404 outside it)."""

from __future__ import annotations

from django.http import Http404

from ketaclinic.accounts.access import Actor
from ketaclinic.patients.restricted import check_chart
from ketaclinic.treatment.models import RemsForm, TreatmentSession


def _pk(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def get_session_for(
    actor: Actor, session_id: int | str, action: str = "clinical.view"
) -> TreatmentSession:
    """The session with this id in the actor's clinic, or 404; PermissionDenied if the role may not."""
    actor.check(action)
    found = (
        TreatmentSession.objects.for_clinic(actor.clinic)
        .select_related("patient", "room", "course", "appointment", "clinic")
        .filter(pk=_pk(session_id))
        .first()
    )
    if found is None:
        raise Http404("No such treatment session in this clinic.")
    check_chart(actor, found.patient)
    return found


def get_rems_form_for(actor: Actor, form_id: int | str, action: str = "rems.manage") -> RemsForm:
    """The REMS form with this id in the actor's clinic, or 404."""
    actor.check(action)
    found = (
        RemsForm.objects.for_clinic(actor.clinic)
        .select_related("session__patient", "session")
        .filter(pk=_pk(form_id))
        .first()
    )
    if found is None:
        raise Http404("No such REMS form in this clinic.")
    check_chart(actor, found.session.patient)
    return found
