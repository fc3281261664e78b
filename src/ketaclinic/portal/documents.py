"""The documents a patient may read in the portal: signed consents, and what later apps add.

Never psychotherapy notes, never staff-only items: a source is listed here on purpose.
Billing adds superbills by appending a function to `SOURCES` (patient, clinic -> rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import reverse

from ketaclinic.screening.models import Consent


def _consents(account: Any) -> list[dict[str, Any]]:
    rows = Consent.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id).only(
        "pk", "title", "signed_on", "withdrawn_at"
    )
    return [
        {
            "kind": "consent",
            "id": c.pk,
            "title": c.title,
            "date": c.signed_on,
            "note": "Withdrawn" if c.withdrawn_at else "Signed",
            "url": reverse("portal_consent_pdf", args=[c.pk]),
        }
        for c in rows.order_by("-signed_on", "-pk")
    ]


SOURCES: list[Callable[[Any], list[dict[str, Any]]]] = [_consents]


def documents_for(account: Any) -> list[dict[str, Any]]:
    """Every document the patient may open, newest first."""
    rows: list[dict[str, Any]] = []
    for source in SOURCES:
        rows.extend(source(account))
    return sorted(rows, key=lambda r: (r["date"], r["id"]), reverse=True)
