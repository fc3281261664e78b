"""The story-authorization section of the patient chart: the patient's authorizations to
publish their story, the stories that rely on each, and the form to record a new one
(two queries).

Registered with patients/chart.py in WebsiteConfig.ready; website/_chart_section.html only
lays the result out.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from ketaclinic.accounts.access import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.website.forms import AuthorizationForm
from ketaclinic.website.models import StoryAuthorization, StoryPage

SHOWN = 10


def chart_section(actor: Actor, patient: Patient, allowed: frozenset[str]) -> dict[str, Any] | None:
    if "story.authorize" not in allowed:
        return None
    rows = list(
        StoryAuthorization.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        .prefetch_related(
            Prefetch("stories", queryset=StoryPage.objects.only("title", "live").order_by("pk"))
        )
        .order_by("-signed_on", "-pk")[:SHOWN]
    )
    today = actor.clinic.today()
    return {
        "patient": patient,
        "authorizations": [(a, a.is_valid(today)) for a in rows],
        "form": AuthorizationForm(),
    }
