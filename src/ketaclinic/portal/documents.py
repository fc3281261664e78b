"""The documents a patient may read in the portal: signed consents, and what later apps add.

Never psychotherapy notes, never staff-only items: a source is listed here on purpose.
A sibling app that may not import the portal (billing's superbills) registers its kind of
document in `patients.hooks.PORTAL_DOCUMENTS`; `_registered` lists those rows and links each
to `portal_document_pdf`, which asks the same source for the file; a source with a page of
its own (a superbill for a date range) is linked to `document_page`, which opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpResponse
from django.urls import reverse

from ketaclinic.patients.hooks import PORTAL_DOCUMENTS
from ketaclinic.portal.access import PortalRequest, portal_page
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


def pages(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Links to the own pages (billing: a superbill for a date range) of the sources that
    listed something for this patient in `rows` (nothing to choose from, no link)."""
    listed = {row["kind"] for row in rows}
    return [
        {"title": source.page_title, "url": reverse("portal_document_page", args=[kind])}
        for kind, source in PORTAL_DOCUMENTS.items()
        if source.page is not None and kind in listed
    ]


@portal_page
def document_page(request: PortalRequest, kind: str) -> HttpResponse:
    """A registered source's own page, for the signed-in patient's own clinic and record."""
    source = PORTAL_DOCUMENTS.get(kind)
    if source is None or source.page is None:
        raise Http404("No such page.")
    response: HttpResponse = source.page(
        request, request.account.clinic_id, request.account.patient_id
    )
    return response


def documents_for(account: Any) -> list[dict[str, Any]]:
    """Every document the patient may open, newest first."""
    rows: list[dict[str, Any]] = []
    for source in SOURCES:
        rows.extend(source(account))
    return sorted(rows, key=lambda r: (r["date"], r["id"]), reverse=True)
