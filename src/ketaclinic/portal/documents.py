"""The documents a patient may read in the portal: signed consents, and what later apps add.

Never psychotherapy notes, never staff-only items: a source is listed here on purpose.
A sibling app that may not import the portal (billing's superbills) registers its kind of
document in `patients.hooks.PORTAL_DOCUMENTS`; `_registered` lists those rows and links each
to `portal_document_pdf`, which asks the same source for the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import reverse

from ketaclinic.patients.hooks import PORTAL_DOCUMENTS
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


def _registered(account: Any) -> list[dict[str, Any]]:
    return [
        {**row, "kind": kind, "url": reverse("portal_document_pdf", args=[kind, row["id"]])}
        for kind, source in PORTAL_DOCUMENTS.items()
        for row in source.rows(account.clinic_id, account.patient_id)
    ]


SOURCES: list[Callable[[Any], list[dict[str, Any]]]] = [_consents, _registered]


def documents_for(account: Any) -> list[dict[str, Any]]:
    """Every document the patient may open, newest first."""
    rows: list[dict[str, Any]] = []
    for source in SOURCES:
        rows.extend(source(account))
    return sorted(rows, key=lambda r: (r["date"], r["id"]), reverse=True)
