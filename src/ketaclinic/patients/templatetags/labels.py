"""Labels for the codes that data files and rules use, so that pages show words, not codes.

Codes (`ketamine-iv-mood`, `hypertension`, `suicidality_unanswered`) stay in the
database and the API; a page shows the title the data file gives, or plain words.
"""

from __future__ import annotations

from django import template

from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.protocols.loader import load_protocols
from ketaclinic.datadirs import clinic_data_dirs

register = template.Library()

# Chair-side alert codes of the protocols' monitoring rules (clinical/monitoring/), as
# a nurse says them. An unknown code reads as its words ("new_code" -> "New code").
ALERT_LABELS = {
    "hypertension": "High blood pressure",
    "hypotension": "Low blood pressure",
    "tachycardia": "Fast heart rate",
    "bradycardia": "Slow heart rate",
    "desaturation": "Low oxygen saturation",
    "bradypnea": "Slow breathing",
    "sedation": "Deep sedation",
    "dissociation": "Marked dissociation",
    "suicidality": "Suicidal thoughts",
    "suicidality_unanswered": "Suicide question unanswered",
}


def words(code: str) -> str:
    """A code as plain words ("moderately_severe" -> "Moderately severe")."""
    text = (code or "").replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


@register.filter
def protocol_label(code: str) -> str:
    """The protocol's title from its data file ("ketamine-iv-mood" -> "IV ketamine ...")."""
    found = load_protocols(clinic_data_dirs("protocols")).get(code or "")
    return found.title if found is not None else words(code)


@register.filter
def alert_label(code: str) -> str:
    """An alert code as words a nurse uses ("desaturation" -> "Low oxygen saturation")."""
    return ALERT_LABELS.get(code or "", words(code))


@register.filter
def condition_label(code: str) -> str:
    """A condition code as its display name ("mdd" -> "Major depressive disorder ...")."""
    found = CONDITIONS.get(code or "")
    return found.display if found is not None else words(code)
