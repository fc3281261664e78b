"""Session summaries the clinic releases to the patient (issue 16, Documents).

A nurse or physician releases a signed session's summary from the chart; the patient
then reads it in /portal/documents/ and the API, as a PDF in plain words that carries
none of the staff-only record (alert texts, nurses' notes, lots, override reasons).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.portal import summaries
from ketaclinic.portal.models import SummaryRelease
from ketaclinic.treatment.models import Administration, Observation, SessionAlert
from tests import builders
from tests.treatment.conftest import pdf_text
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

STAFF_ONLY = (
    "STAFF-ONLY systolic 186",  # the alert's message
    "NURSE-ONLY tearful about her divorce",  # a nurse's observation note
    "LOT-7731",  # the vial's lot
    "override because the escort was late",  # a discharge override reason
    "bp_high",  # internal codes
    "BP-180",
)


def a_session(clinic, staff, patient, *, signed=True, days_ago=1):
    """A discharged IV session with a dose, an acknowledged alert and a nurse's note."""
    nurse = staff["nurse"].user
    start = timezone.now() - timedelta(days=days_ago)
    visit = builders.appointment(
        clinic,
        patient,
        builders.course(clinic, patient, staff["physician"].user),
        builders.chair(clinic),
        start=start,
        status="completed",
    )
    session = builders.session(
        visit,
        nurse,
        dose_started_at=start + timedelta(minutes=15),
        dose_ended_at=start + timedelta(minutes=55),
        discharged_at=start + timedelta(minutes=125),
        discharge_override_by=staff["physician"].user,
        discharge_override_reason="override because the escort was late",
        nurse_signed_by=nurse if signed else None,
        nurse_signed_at=start + timedelta(minutes=130) if signed else None,
    )
    Administration.objects.create(
        session=session,
        drug="racemic_ketamine",
        product="Ketamine HCl 50 mg/mL",
        lot_number="LOT-7731",
        route="iv",
        dose_mg=Decimal("35.00"),
        unit="mL",
        recorded_by=nurse,
        recorded_at=start + timedelta(minutes=15),
    )
    SessionAlert.objects.create(
        session=session,
        code="bp_high",
        level="high",
        message="STAFF-ONLY systolic 186",
        rule_id="BP-180",
        raised_at=start + timedelta(minutes=40),
        acknowledged_by=nurse,
        acknowledged_at=start + timedelta(minutes=42),
    )
    Observation.objects.create(
        session=session,
        kind="note",
        text="NURSE-ONLY tearful about her divorce",
        taken_at=start + timedelta(minutes=60),
        recorded_by=nurse,
    )
    return session


def release_url(session) -> str:
    return f"/treatment/sessions/{session.pk}/portal-summary/release/"


def withdraw_url(session) -> str:
    return f"/treatment/sessions/{session.pk}/portal-summary/withdraw/"


def pdf_url(session) -> str:
    return f"/portal/documents/session-summaries/{session.pk}.pdf"


# --------------------------------------------------------------------------- staff release it


@pytest.mark.parametrize("role", ["nurse", "physician"])
def test_a_nurse_or_physician_releases_a_signed_summary_and_takes_it_back(
    clinic, staff, account, login, role
):
    session = a_session(clinic, staff, account.patient)
    client = login(staff[role])
    chart = client.get(f"/patients/{account.patient_id}/").content.decode()
    assert "Release to patient" in chart and release_url(session) in chart

    answer = client.post(release_url(session))
    assert answer.status_code == 302 and answer.url == f"/patients/{account.patient_id}/"
    row = SummaryRelease.objects.get(session=session)
    assert (row.patient_id, row.released_by_id) == (account.patient_id, staff[role].user_id)
    event = AuditEvent.objects.get(action="portal_summary_release")
    assert (event.user_id, event.role, event.patient_id) == (
        staff[role].user_id,
        role,
        account.patient_id,
    )
    chart = client.get(f"/patients/{account.patient_id}/").content.decode()
    assert "✓ Released" in chart and withdraw_url(session) in chart
    client.post(release_url(session))  # again: still one release, one event
    assert SummaryRelease.objects.count() == 1
    assert AuditEvent.objects.filter(action="portal_summary_release").count() == 1

    assert client.post(withdraw_url(session)).status_code == 302
    assert not SummaryRelease.objects.exists()
    assert AuditEvent.objects.filter(action="portal_summary_withdraw", role=role).count() == 1


@pytest.mark.parametrize("role", ["front_desk", "therapist", "admin", "biller"])
def test_other_roles_may_not_release_or_take_back(clinic, staff, account, login, role):
    session = a_session(clinic, staff, account.patient)
    released = a_session(clinic, staff, account.patient, days_ago=2)
    SummaryRelease.objects.create(
        clinic=clinic, patient=account.patient, session=released, released_by=staff["nurse"].user
    )
    client = login(staff[role])
    with nothing_changed(SummaryRelease):
        assert client.post(release_url(session)).status_code == 403
        assert client.post(withdraw_url(released)).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="portal_summary").exists()
    assert (
        "Release to patient" not in client.get(f"/patients/{account.patient_id}/").content.decode()
    )


def test_an_unsigned_session_is_not_released(clinic, staff, account, login):
    session = a_session(clinic, staff, account.patient, signed=False)
    client = login(staff["nurse"])
    with nothing_changed(SummaryRelease):
        assert client.post(release_url(session)).status_code == 302
    chart = client.get(f"/patients/{account.patient_id}/").content.decode()
    assert "Only a signed session" in chart
    assert not AuditEvent.objects.filter(action="portal_summary_release").exists()


def test_another_clinics_staff_get_404_and_get_is_refused(clinic, staff, account, outsider, login):
    session = a_session(clinic, staff, account.patient)
    stranger, nurse = login(outsider), login(staff["nurse"])
    with nothing_changed(SummaryRelease):
        assert stranger.post(release_url(session)).status_code == 404
        assert nurse.get(release_url(session)).status_code == 405
        missing = "/treatment/sessions/999999/portal-summary/release/"
        assert nurse.post(missing).status_code == 404


# --------------------------------------------------------------------------- the patient reads it


def test_an_unreleased_summary_is_not_listed_and_404_by_url(clinic, staff, account, patient_client):
    session = a_session(clinic, staff, account.patient)
    assert pdf_url(session) not in patient_client.get("/portal/documents/").content.decode()
    assert patient_client.get("/api/v1/portal/documents").json() == []
    with nothing_changed():
        assert patient_client.get(pdf_url(session)).status_code == 404


def test_the_patient_reads_a_released_summary_in_plain_words(
    clinic, staff, account, patient_client, login
):
    session = a_session(clinic, staff, account.patient)
    login(staff["nurse"]).post(release_url(session))
    page = patient_client.get("/portal/documents/").content.decode()
    assert "Session summary" in page and pdf_url(session) in page
    listed = patient_client.get("/api/v1/portal/documents").json()
    assert [(d["kind"], d["id"], d["url"], d["date"]) for d in listed] == [
        (
            "session-summaries",
            session.pk,
            pdf_url(session),
            clinic.date_of(session.started_at).isoformat(),
        )
    ]
    answer = patient_client.get(pdf_url(session))
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    assert (
        answer["Content-Disposition"] == f'attachment; filename="session-summary-{session.pk}.pdf"'
    )
    text = pdf_text(answer.content)
    for needed in (
        "Your treatment session",
        "Maria Garcia",
        "IV ketamine infusion for depression",
        "Ketamine, 35 mg, as an infusion into a vein.",
        "Some readings were outside the expected range",
        f"You went home at {clinic.local(session.discharged_at):%H:%M}.",
        "Do not drive or operate machinery until the next day",
        "988",
    ):
        assert needed in text, needed
    for secret in STAFF_ONLY:
        assert secret not in text, secret
    event = AuditEvent.objects.get(action="download", detail__kind="session-summaries")
    assert (event.user_id, event.role, event.patient_id) == (
        account.user_id,
        "patient",
        account.patient_id,
    )
    views = AuditEvent.objects.filter(action="view", user=account.user)
    assert views.filter(detail__what="portal_documents").count() == 2  # page and API


def test_a_withdrawn_summary_is_gone_from_the_portal(clinic, staff, account, patient_client, login):
    session = a_session(clinic, staff, account.patient)
    nurse = login(staff["nurse"])
    nurse.post(release_url(session))
    assert patient_client.get(pdf_url(session)).status_code == 200
    nurse.post(withdraw_url(session))
    assert patient_client.get("/api/v1/portal/documents").json() == []
    assert patient_client.get(pdf_url(session)).status_code == 404


def test_another_patient_never_reaches_a_released_summary(
    clinic, staff, account, other_account, login
):
    session = a_session(clinic, staff, account.patient)
    login(staff["nurse"]).post(release_url(session))
    tom = Client()
    tom.force_login(other_account.user)
    assert pdf_url(session) not in tom.get("/portal/documents/").content.decode()
    assert tom.get("/api/v1/portal/documents").json() == []
    with nothing_changed():
        assert tom.get(pdf_url(session)).status_code == 404
    assert not AuditEvent.objects.filter(action="download").exists()
    # Staff sessions never reach the portal's copy either.
    assert login(staff["nurse"]).get(pdf_url(session)).status_code == 403


# --------------------------------------------------------------------------- the API twin


def test_the_api_releases_and_takes_back_as_the_page_does(clinic, staff, account, api_client):
    session = a_session(clinic, staff, account.patient)
    path = f"/api/v1/sessions/{session.pk}/portal-summary"
    nurse = api_client(staff["nurse"])
    assert nurse.put(path).json() == {"session_id": session.pk, "released": True}
    assert SummaryRelease.objects.filter(session=session).exists()
    assert nurse.delete(path).json() == {"session_id": session.pk, "released": False}
    assert not SummaryRelease.objects.exists()
    unsigned = a_session(clinic, staff, account.patient, signed=False, days_ago=2)
    desk = api_client(staff["front_desk"])
    with nothing_changed(SummaryRelease):
        refused = nurse.put(f"/api/v1/sessions/{unsigned.pk}/portal-summary")
        assert refused.status_code == 422 and "Only a signed session" in refused.content.decode()
        assert desk.put(path).status_code == 403
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="portal_summary")] == [
        "portal_summary_release",
        "portal_summary_withdraw",
    ]


@pytest.mark.parametrize("role", ["front_desk", "therapist", "biller", "admin"])
def test_the_service_itself_refuses_a_role_that_may_not_chart(clinic, staff, patient, role):
    """The release and withdraw services check the role too, not only the views before them."""
    session = a_session(clinic, staff, patient)
    summaries.release(actor=builders.actor(staff["nurse"]), session=session)
    with nothing_changed(SummaryRelease, AuditEvent):
        with pytest.raises(PermissionDenied):
            summaries.release(actor=builders.actor(staff[role]), session=session)
        with pytest.raises(PermissionDenied):
            summaries.withdraw(actor=builders.actor(staff[role]), session=session)


def test_the_service_refuses_another_clinics_session(clinic, staff, patient, outsider):
    session = a_session(clinic, staff, patient)
    with nothing_changed(SummaryRelease, AuditEvent), pytest.raises(PermissionDenied):
        summaries.release(actor=builders.actor(outsider), session=session)
