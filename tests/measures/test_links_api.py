"""Questionnaire links and schedules through the API, as the chart's measures section does.

Every role, valid / empty / hostile input, another clinic's patient or schedule (404),
and the audit events; a refusal leaves the database as it was.
"""

from __future__ import annotations

import json

import pytest
from django.core import mail

from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures.models import LinkToken, QuestionnaireLink, Schedule
from ketaclinic.patients.models import Patient
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db

SENDERS = ["physician", "nurse", "therapist", "front_desk"]
HOSTILE = [
    {"instruments": ["<script>alert(1)</script>"]},
    {"instruments": ["phq9\x00"]},
    {"instruments": "phq9"},
    {"instruments": ["x" * 5000]},
    {"instruments": [None]},
    {"instruments": ["phq9"] * 11},
]


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def emailed(patient):
    patient.email = "maria@example.org"
    patient.save(update_fields=["email"])
    return patient


@pytest.fixture
def elsewhere(other_clinic):
    return Patient.objects.create(
        clinic=other_clinic,
        mrn="N1",
        given_name="Ana",
        family_name="Lopes",
        birth_date="1990-01-01",
        sex_at_birth="female",
        email="ana@example.org",
    )


@pytest.mark.parametrize("role", SENDERS)
def test_every_sending_role_sends_a_link_and_the_patient_gets_it_by_mail(
    staff, emailed, api_client, role, django_capture_on_commit_callbacks
):
    client = api_client(staff[role])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            client,
            f"/api/v1/patients/{emailed.pk}/measure-links",
            {"instruments": ["phq9", "gad7"]},
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["instruments"] == ["phq9", "gad7"] and body["state"] == "valid"
    assert "token" not in json.dumps(body)  # the patient receives it by e-mail only
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["maria@example.org"]
    link = QuestionnaireLink.objects.get(pk=body["id"])
    assert AuditEvent.objects.filter(action="send", object_id=str(link.pk)).count() == 1
    listed = client.get(f"/api/v1/patients/{emailed.pk}/measure-links")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [link.pk]
    read = AuditEvent.objects.filter(action="view", object_type="measures.questionnairelink")
    assert [e.detail for e in read] == [{"ids": [link.pk]}]


def test_the_admin_may_not_send_list_or_schedule(staff, emailed, api_client):
    client = api_client(staff["admin"])
    with nothing_changed(QuestionnaireLink, Schedule):
        url = f"/api/v1/patients/{emailed.pk}/measure-"
        assert post(client, url + "links", {"instruments": ["phq9"]}).status_code == 403
        assert client.get(url + "links").status_code == 403
        assert client.get(url + "schedules").status_code == 403
        body = {"instruments": ["phq9"], "kind": "before_appointment"}
        assert post(client, url + "schedules", body).status_code == 403


@pytest.mark.parametrize("body", [{}, {"instruments": []}, *HOSTILE])
def test_empty_and_hostile_links_are_refused_with_nothing_written(staff, emailed, api_client, body):
    client = api_client(staff["nurse"])
    with nothing_changed(QuestionnaireLink, LinkToken):
        response = post(client, f"/api/v1/patients/{emailed.pk}/measure-links", body)
    assert response.status_code == 422, response.content
    assert mail.outbox == []


def test_a_clinician_only_instrument_or_no_email_is_a_field_error(
    staff, patient, emailed, api_client
):
    client = api_client(staff["nurse"])
    url = f"/api/v1/patients/{emailed.pk}/measure-links"
    with nothing_changed(QuestionnaireLink):
        assert post(client, url, {"instruments": ["nope"]}).status_code == 422
        emailed.email = ""
        emailed.save(update_fields=["email"])
        response = post(client, url, {"instruments": ["phq9"]})
    assert response.status_code == 422
    assert "e-mail" in response.content.decode()


def test_another_clinics_patient_is_not_found(staff, elsewhere, api_client):
    client = api_client(staff["nurse"])
    url = f"/api/v1/patients/{elsewhere.pk}/measure-"
    with nothing_changed(QuestionnaireLink, Schedule):
        assert post(client, url + "links", {"instruments": ["phq9"]}).status_code == 404
        assert client.get(url + "links").status_code == 404
        assert client.get(url + "schedules").status_code == 404
        body = {"instruments": ["phq9"], "kind": "every_n_days", "every_days": 7}
        assert post(client, url + "schedules", body).status_code == 404


@pytest.mark.parametrize("role", SENDERS)
def test_every_sending_role_starts_lists_and_stops_a_schedule(staff, patient, api_client, role):
    client = api_client(staff[role])
    url = f"/api/v1/patients/{patient.pk}/measure-schedules"
    body = {"instruments": ["phq9"], "kind": "every_n_days", "every_days": 14}
    response = post(client, url, body)
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["kind"] == "every_n_days" and made["every_days"] == 14 and made["active"]
    assert [s["id"] for s in client.get(url).json()] == [made["id"]]
    stopped = client.post(f"/api/v1/measure-schedules/{made['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    assert client.get(url).json() == []
    events = AuditEvent.objects.filter(object_type="measures.schedule", object_id=str(made["id"]))
    assert sorted(e.action for e in events) == ["create", "update"]
    # Stopping a stopped schedule changes nothing and writes nothing.
    with nothing_changed(Schedule):
        assert client.post(f"/api/v1/measure-schedules/{made['id']}/stop").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"instruments": ["phq9"]},
        {"instruments": ["phq9"], "kind": "hourly"},
        {"instruments": ["phq9"], "kind": "every_n_days"},
        {"instruments": ["phq9"], "kind": "every_n_days", "every_days": 0},
        {"instruments": ["phq9"], "kind": "every_n_days", "every_days": 10**12},
        {"instruments": ["phq9"], "kind": "every_n_days", "every_days": "7; DROP TABLE"},
    ],
)
def test_empty_and_hostile_schedules_are_refused_with_nothing_written(
    staff, patient, api_client, body
):
    client = api_client(staff["front_desk"])
    with nothing_changed(Schedule):
        response = post(client, f"/api/v1/patients/{patient.pk}/measure-schedules", body)
    assert response.status_code == 422, response.content


def test_another_clinics_schedule_cannot_be_stopped_nor_ours_by_the_admin(
    staff, patient, outsider, elsewhere, api_client
):
    theirs = Schedule.objects.create(
        clinic=elsewhere.clinic,
        patient=elsewhere,
        instruments=["phq9"],
        kind="before_appointment",
        created_by=outsider.user,
    )
    nurse, admin = api_client(staff["nurse"]), api_client(staff["admin"])
    body = {"instruments": ["phq9"], "kind": "before_appointment"}
    ours = post(nurse, f"/api/v1/patients/{patient.pk}/measure-schedules", body).json()
    with nothing_changed(Schedule):
        assert nurse.post(f"/api/v1/measure-schedules/{theirs.pk}/stop").status_code == 404
        assert nurse.post("/api/v1/measure-schedules/abc/stop").status_code in (404, 422)
        assert admin.post(f"/api/v1/measure-schedules/{ours['id']}/stop").status_code == 403
