"""The patient's documents: the list and each file, downloaded by its owner only."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render

from ketaclinic.audit.services import record
from ketaclinic.patients.hooks import PORTAL_DOCUMENTS
from ketaclinic.portal import services
from ketaclinic.portal.access import PortalRequest, own, portal_page
from ketaclinic.portal.documents import documents_for
from ketaclinic.portal.documents import pages as document_pages
from ketaclinic.screening.models import Consent


@portal_page
def documents(request: PortalRequest) -> HttpResponse:
    rows = documents_for(request.account)
    services.audit_read(request.actor, request.account, "documents")
    return render(
        request,
        "portal/documents.html",
        {"rows": rows, "pages": document_pages(rows), "nav": "documents"},
    )


@portal_page
def consent_pdf(request: PortalRequest, consent_id: int) -> HttpResponse:
    consent = own(request.account, Consent.objects.all(), consent_id, "document")
    record(
        request.actor,
        "download",
        patient_id=consent.patient_id,
        obj=consent,
        detail={"what": "portal_pdf"},
    )
    response = HttpResponse(bytes(consent.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="consent-{consent.pk}.pdf"'
    return response


@portal_page
def document_pdf(request: PortalRequest, kind: str, doc_id: int) -> HttpResponse:
    """A registered document (a superbill): the source checks it is this patient's."""
    account = request.account
    source = PORTAL_DOCUMENTS.get(kind)
    found = source.open(account.clinic_id, account.patient_id, doc_id) if source else None
    if found is None:
        raise Http404("No such document.")
    record(
        request.actor,
        "download",
        patient_id=account.patient_id,
        obj=found.obj,
        detail={"what": "portal_pdf", "kind": kind},
    )
    response = HttpResponse(found.content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return response
