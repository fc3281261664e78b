"""Restricted charts and break-glass (issue #14): only the care team opens the chart; anyone
else on the staff breaks the glass with a reason, for a limited time, audited, e-mailed to the
admins and reviewed; another clinic never gets in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients import restricted
from ketaclinic.patients.models import BreakGlass, Patient
from ketaclinic.scheduling.models import Appointment, Room

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script>\x00' OR 1=1; --" * 3


def actor(membership) -> Actor:
    return Actor(user=membership.user, membership=membership)


@pytest.fixture
def vip(clinic, staff) -> Patient:
    """A restricted chart whose care team is Dr Chen alone."""
    patient = Patient.objects.create(
        clinic=clinic,
        mrn="MRN000777",
        given_name="Dana",
        family_name="Whitlock",
        birth_date=date(1975, 5, 2),
        sex_at_birth="female",
        phone="+1 207 555 0199",
    )
    staff["admin"].user.email = "alex@harbor.example"
    staff["admin"].user.save(update_fields=["email"])
    restricted.set_restriction(
        actor=actor(staff["admin"]),
        patient=patient,
        restricted=True,
        care_team=[staff["physician"].pk],
    )
    patient.refresh_from_db()
    return patient


def chart(client: Client, patient: Patient):
    return client.get(f"/patients/{patient.pk}/")


def test_the_care_team_opens_the_chart_and_everyone_else_is_sent_to_break_glass(vip, staff, login):
    assert chart(login(staff["physician"]), vip).status_code == 200
    for role in ("admin", "nurse", "therapist", "front_desk"):
        response = chart(login(staff[role]), vip)
        assert response.status_code == 302, role
        assert response["Location"].startswith(f"/patients/{vip.pk}/break-glass/?next=")
        form = login(staff[role]).get(response["Location"])
        assert form.status_code == 200
        assert b"restricted to its care team" in form.content
        assert b"555 0199" not in form.content  # the form shows who, never the chart


def test_breaking_the_glass_opens_the_chart_for_a_limited_time_audited_and_emailed(
    vip, staff, login, django_capture_on_commit_callbacks
):
    nurse = login(staff["nurse"])
    with django_capture_on_commit_callbacks(execute=True):
        response = nurse.post(
            f"/patients/{vip.pk}/break-glass/",
            {"reason": "Patient unwell in the waiting room", "next": f"/patients/{vip.pk}/"},
        )
    assert response.status_code == 302 and response["Location"] == f"/patients/{vip.pk}/"
    page = chart(nurse, vip)
    assert page.status_code == 200 and b"555 0199" in page.content
    grant = BreakGlass.objects.get()
    assert grant.membership == staff["nurse"] and grant.reviewed_at is None
    assert (grant.expires_at - grant.opened_at) == timedelta(minutes=restricted.BREAK_GLASS_MINUTES)
    event = AuditEvent.objects.get(action="break_glass")
    assert event.patient_id == vip.pk and event.detail["flag"] == "break_glass"
    (message,) = mail.outbox
    assert message.to == ["alex@harbor.example"]
    assert "break-glass" in message.subject
    assert "Whitlock" not in message.body and "/audit/break-glass/" in message.body
    # Time-limited: once it expires the chart is closed again.
    BreakGlass.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert chart(nurse, vip).status_code == 302


@pytest.mark.parametrize("reason", ["", "   ", "because", HOSTILE * 20])
def test_break_glass_without_a_real_reason_is_refused_and_nothing_opens(vip, staff, login, reason):
    response = login(staff["nurse"]).post(f"/patients/{vip.pk}/break-glass/", {"reason": reason})
    assert response.status_code == 422
    assert b'class="error"' in response.content
    assert not BreakGlass.objects.exists()
    assert not AuditEvent.objects.filter(action="break_glass").exists()


def test_break_glass_never_crosses_clinics(vip, outsider, login):
    other = login(outsider)
    assert other.get(f"/patients/{vip.pk}/break-glass/").status_code == 404
    response = other.post(
        f"/patients/{vip.pk}/break-glass/", {"reason": "I am a doctor too, honest"}
    )
    assert response.status_code == 404
    assert chart(other, vip).status_code == 404
    assert not BreakGlass.objects.exists()


def test_a_break_glass_next_address_off_site_is_ignored(vip, staff, login):
    response = login(staff["nurse"]).post(
        f"/patients/{vip.pk}/break-glass/",
        {"reason": "Covering for Dr Chen today", "next": "https://evil.example/x"},
    )
    assert response["Location"] == f"/patients/{vip.pk}/"


def test_every_fetch_of_the_chart_respects_it(vip, staff, clinic, login, api_client):
    from ketaclinic.scheduling.access import get_appointment_for

    room = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair")
    start = timezone.now() + timedelta(days=1)
    appointment = Appointment.objects.create(
        clinic=clinic,
        patient=vip,
        room=room,
        kind="treatment",
        start=start,
        end=start + timedelta(hours=2),
    )
    with pytest.raises(restricted.ChartRestricted):
        get_appointment_for(actor(staff["front_desk"]), appointment.pk)
    assert get_appointment_for(actor(staff["physician"]), appointment.pk) == appointment
    # The API answers 403 naming break-glass; the care team reads it.
    response = api_client(staff["nurse"]).get(f"/api/v1/patients/{vip.pk}")
    assert response.status_code == 403 and "break-glass" in response.json()["detail"]
    assert api_client(staff["physician"]).get(f"/api/v1/patients/{vip.pk}").status_code == 200


def test_search_lists_a_restricted_chart_by_name_only(vip, patient, staff, login, api_client):
    page = login(staff["nurse"]).post("/patients/", {"q": "Whitlock"})
    assert b"Whitlock" in page.content and b"Restricted" in page.content
    assert b"1975-05-02" not in page.content
    care = login(staff["physician"]).post("/patients/", {"q": "Whitlock"})
    assert b"1975-05-02" in care.content
    listed = api_client(staff["nurse"]).get("/api/v1/patients").json()["items"]
    assert [p["family_name"] for p in listed] == ["Garcia"]
    listed = api_client(staff["physician"]).get("/api/v1/patients").json()["items"]
    assert {p["family_name"] for p in listed} == {"Garcia", "Whitlock"}


def test_fhir_withholds_a_restricted_chart_outside_its_care_team(vip, patient, staff, api_client):
    nurse = api_client(staff["nurse"])
    assert nurse.get(f"/fhir/R4/Patient/{vip.pk}").status_code == 403
    found = nurse.get("/fhir/R4/Patient").json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [str(patient.pk)]
    assert api_client(staff["physician"]).get(f"/fhir/R4/Patient/{vip.pk}").status_code == 200


def test_the_bulk_export_leaves_out_charts_its_requester_may_not_open(vip, patient, staff):
    from ketaclinic.interop import bulk

    hidden = restricted.hidden_patient_ids_for(vip.clinic_id, staff["admin"].pk)
    exported = list(
        bulk.resources_of(vip.clinic, "Patient", since=None, patient_ids=None, hidden=hidden)
    )
    assert [r["id"] for r in exported] == [str(patient.pk)]


def test_only_admins_restrict_a_chart_and_the_form_refuses_bad_input(vip, patient, staff, login):
    url = f"/patients/{patient.pk}/restriction/"
    for role in ("physician", "nurse", "therapist", "front_desk"):
        assert login(staff[role]).post(url, {"restricted": "on"}).status_code == 403
    admin = login(staff["admin"])
    assert admin.get(url).status_code == 200
    for bad in (
        {"restricted": "on"},
        {"restricted": "on", "care_team": HOSTILE},
        {"restricted": "on", "care_team": "99999999999999999999"},
    ):
        response = admin.post(url, bad)
        assert response.status_code == 422, bad
        patient.refresh_from_db()
        assert not patient.restricted
    response = admin.post(url, {"restricted": "on", "care_team": [staff["nurse"].pk]})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.restricted
    assert AuditEvent.objects.filter(action="chart_restriction", patient_id=patient.pk).exists()


def test_admins_review_each_break_glass_opening(vip, staff, login):
    restricted.break_glass(actor=actor(staff["therapist"]), patient=vip, reason="Crisis call now")
    admin = login(staff["admin"])
    page = admin.get("/audit/break-glass/")
    assert b"Crisis call now" in page.content and b"Waiting for review" in page.content
    grant = BreakGlass.objects.get()
    for bad in ("", HOSTILE * 50):
        assert (
            admin.post("/audit/break-glass/", {"grant": grant.pk, "note": bad}).status_code == 422
        )
    assert (
        admin.post("/audit/break-glass/", {"grant": "x", "note": "fine fine fine"}).status_code
        == 404
    )
    response = admin.post(
        "/audit/break-glass/", {"grant": grant.pk, "note": "Appropriate: crisis line call."}
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.reviewed_by == staff["admin"] and grant.review_note.startswith("Appropriate")
    assert AuditEvent.objects.filter(action="break_glass_review").exists()
    assert b"Nothing waiting" in admin.get("/audit/break-glass/").content
    for role in ("physician", "nurse", "therapist", "front_desk"):
        assert login(staff[role]).get("/audit/break-glass/").status_code == 403


def test_the_chair_board_keeps_safety_facts_but_not_the_name(vip, staff, clinic, login):
    room = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair")
    now = timezone.now()
    Appointment.objects.create(
        clinic=clinic,
        patient=vip,
        room=room,
        kind="treatment",
        status="checked_in",
        start=now,
        end=now + timedelta(hours=2),
    )
    page = login(staff["nurse"]).get("/treatment/board/")
    assert b"Restricted chart" in page.content and b"Whitlock" not in page.content
    care = login(staff["physician"]).get("/treatment/board/")
    assert b"Whitlock" in care.content


def test_an_unrestricted_chart_costs_no_extra_query(patient, staff, django_assert_max_num_queries):
    from ketaclinic.patients.access import get_patient_for

    with django_assert_max_num_queries(1):
        get_patient_for(actor(staff["nurse"]), patient.pk)
