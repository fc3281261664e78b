"""A patient's superbills on the portal's Documents page (billing registers them through
patients/hooks.py): reviewed visits only, downloadable by their owner only."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.test import Client

from ketaclinic.audit.models import AuditEvent
from ketaclinic.billing import services
from ketaclinic.billing.models import Charge
from tests.billing.conftest import actor, billing, code, signed_session  # noqa: F401
from tests.treatment.conftest import pdf_text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("billing")]


def _visit(clinic, staff, patient, *, approve=True, day=None):
    code(patient)  # the same code twice is one diagnosis on the visit
    when = datetime.combine(day, time(12), tzinfo=clinic.tz) if day else None
    appt = signed_session(
        clinic,
        patient,
        staff,
        drug="racemic_ketamine",
        route="iv",
        mg=35,
        minutes=50,
        ml="0.7",
        when=when,
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


RANGE = "/portal/documents/superbills/"


def test_the_owner_downloads_one_superbill_for_the_dates_they_choose(
    clinic, staff, account, patient_client
):
    today = clinic.today()
    old = _visit(clinic, staff, account.patient, day=today - timedelta(days=40))
    recent = _visit(clinic, staff, account.patient, day=today - timedelta(days=10))
    _visit(clinic, staff, account.patient, day=today - timedelta(days=5), approve=False)
    documents = patient_client.get("/portal/documents/").content.decode()
    assert f'href="{RANGE}"' in documents and "Superbill for dates you choose" in documents
    form = patient_client.get(RANGE)
    assert form.status_code == 200 and 'name="start"' in form.content.decode()
    start, end = today - timedelta(days=30), today
    answer = patient_client.post(RANGE, {"start": str(start), "end": str(end)})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    assert answer["Content-Disposition"] == (
        f'attachment; filename="superbill-{start:%Y%m%d}-{end:%Y%m%d}.pdf"'
    )
    text = pdf_text(answer.content)
    for needed in ("Superbill", "Billing NPI", "Maria Garcia", "J3490", "96365", "F33.2"):
        assert needed in text, needed
    # The recent reviewed visit only: not the older one, not the one still under review.
    assert f"{recent.start.astimezone(clinic.tz):%m/%d/%Y}" in text
    assert f"{old.start.astimezone(clinic.tz):%m/%d/%Y}" not in text
    assert f"{today - timedelta(days=5):%m/%d/%Y}" not in text
    event = AuditEvent.objects.get(action="download", detail__kind="superbills")
    assert (event.user_id, event.role, event.patient_id, event.detail["visits"]) == (
        account.user_id,
        "patient",
        account.patient_id,
        1,
    )
    whole = patient_client.post(
        RANGE, {"start": str(today - timedelta(days=60)), "end": str(today)}
    )
    assert pdf_text(whole.content).count("J3490") == 2


@pytest.mark.parametrize(
    ("typed", "field_error"),
    [
        ({}, "This field is required."),
        ({"start": "2026-13-45", "end": "2026-01-01"}, "Enter the first day as a date"),
        (
            {"start": "2026-01-01", "end": "<script>alert(1)</script>"},
            "Enter the last day as a date",
        ),
        ({"start": "2026-03-01", "end": "2026-02-01"}, "The end date is before the start date."),
        ({"start": "\x00", "end": "' OR 1=1 --"}, "Enter the first day as a date"),
    ],
)
def test_bad_dates_are_a_field_error_and_no_pdf(
    clinic, staff, account, patient_client, typed, field_error
):
    _visit(clinic, staff, account.patient)
    answer = patient_client.post(RANGE, typed)
    assert answer.status_code == 422 and answer["Content-Type"].startswith("text/html")
    page = answer.content.decode()
    assert field_error in page and 'role="alert"' in page
    assert not AuditEvent.objects.filter(action="download").exists()


def test_a_range_without_a_reviewed_visit_says_so(clinic, staff, account, patient_client):
    today = clinic.today()
    _visit(clinic, staff, account.patient, day=today - timedelta(days=3), approve=False)
    answer = patient_client.post(
        RANGE, {"start": str(today - timedelta(days=7)), "end": str(today)}
    )
    assert answer.status_code == 422
    assert "No reviewed visit between these dates" in answer.content.decode()
    assert not AuditEvent.objects.filter(action="download").exists()


def test_the_range_holds_only_the_signed_in_patients_visits_and_staff_are_refused(
    clinic, staff, account, patient_client, other_account, login
):
    today = clinic.today()
    _visit(clinic, staff, other_account.patient, day=today - timedelta(days=2))
    body = {"start": str(today - timedelta(days=7)), "end": str(today)}
    # The other patient's reviewed visit is not this patient's: nothing to download.
    assert patient_client.post(RANGE, body).status_code == 422
    owner = Client()
    owner.force_login(other_account.user)
    assert owner.post(RANGE, body).status_code == 200
    for role, member in staff.items():
        assert login(member).post(RANGE, body).status_code == 403, role
    assert Client().post(RANGE, body).status_code == 302
    assert patient_client.get("/portal/documents/consents/").status_code == 404
    assert patient_client.get("/portal/documents/nothing/").status_code == 404
