"""A patient's superbills on the portal's Documents page (billing registers them through
patients/hooks.py): reviewed visits only, downloadable by their owner only."""

from __future__ import annotations

import pytest
from django.test import Client

from ketaclinic.audit.models import AuditEvent
from ketaclinic.billing import services
from ketaclinic.billing.models import Charge
from tests.billing.conftest import actor, billing, code, signed_session  # noqa: F401
from tests.treatment.conftest import pdf_text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing")]


def _visit(clinic, staff, patient, *, approve=True):
    code(patient)
    appt = signed_session(
        clinic, patient, staff, drug="racemic_ketamine", route="iv", mg=35, minutes=50, ml="0.7"
    )
    services.propose_for_appointment(appt)
    if approve:
        for line in Charge.objects.filter(appointment=appt):
            services.approve_charge(actor=actor(staff["biller"]), charge=line)
    return appt


def test_the_owner_sees_a_reviewed_visits_superbill_and_downloads_the_pdf(
    clinic,
    staff,
    account,
    patient_client,
):
    appt = _visit(clinic, staff, account.patient)
    page = patient_client.get("/portal/documents/").content.decode()
    url = f"/portal/documents/superbills/{appt.pk}.pdf"
    assert "Superbill" in page and url in page
    listed = patient_client.get("/api/v1/portal/documents").json()
    assert [(d["kind"], d["id"], d["url"]) for d in listed] == [("superbills", appt.pk, url)]
    answer = patient_client.get(url)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    assert answer["Content-Disposition"] == f'attachment; filename="superbill-{appt.pk}.pdf"'
    text = pdf_text(answer.content)
    for needed in ("Superbill", "Billing NPI", "Maria Garcia", "J3490", "96365", "F33.2"):
        assert needed in text, needed
    event = AuditEvent.objects.get(action="download", detail__kind="superbills")
    assert (event.user_id, event.role, event.patient_id) == (
        account.user_id,
        "patient",
        account.patient_id,
    )


def test_a_visit_still_under_review_is_not_offered(
    clinic,
    staff,
    account,
    patient_client,
):
    appt = _visit(clinic, staff, account.patient, approve=False)
    first = Charge.objects.filter(appointment=appt).first()
    services.approve_charge(actor=actor(staff["biller"]), charge=first)  # one of two lines
    assert "Superbill" not in patient_client.get("/portal/documents/").content.decode()
    assert patient_client.get(f"/portal/documents/superbills/{appt.pk}.pdf").status_code == 404


def test_another_patients_superbill_is_404_and_staff_are_refused(
    clinic,
    staff,
    account,
    patient_client,
    other_account,
    login,
):
    theirs = _visit(clinic, staff, other_account.patient)
    url = f"/portal/documents/superbills/{theirs.pk}.pdf"
    assert patient_client.get(url).status_code == 404
    assert "Superbill" not in patient_client.get("/portal/documents/").content.decode()
    for junk in ("superbills/999999.pdf", "condition/1.pdf", "SUPERBILLS/1.pdf"):
        assert patient_client.get(f"/portal/documents/{junk}").status_code == 404, junk
    assert not AuditEvent.objects.filter(action="download").exists()
    owner = Client()
    owner.force_login(other_account.user)
    assert owner.get(url).status_code == 200
    for role, member in staff.items():
        assert login(member).get(url).status_code == 403, role
    assert Client().get(url).status_code == 302
    # The staff superbill of the same patient still answers the roles the table names.
    staff_url = f"/billing/patients/{other_account.patient_id}/superbill.pdf"
    assert login(staff["front_desk"]).get(staff_url).status_code == 200
    assert login(staff["nurse"]).get(staff_url).status_code == 403
