"""The portal API with a patient's token (a phone app): the patient's own data only."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ketaclinic.accounts.models import ApiToken
from ketaclinic.integration.models import JournalEntry
from ketaclinic.portal.models import AppointmentRequest, Thread
from ketaclinic.treatment.patient_checkin import PatientCheckin
from tests.portal.conftest import due_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def phone(account):
    _, raw = ApiToken.issue(account.membership, name="phone")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_me_and_lists_answer_the_patient(phone, account, later_appointment, portal_patient):
    due_link(portal_patient)
    me = phone.get("/api/v1/portal/me").json()
    assert me["username"] == "maria.garcia@example.org" and me["crisis_line"] == "988"
    [appointment] = phone.get("/api/v1/portal/appointments").json()
    assert appointment["status"] == "Upcoming" and appointment["may_change"] is True
    [questionnaire] = phone.get("/api/v1/portal/questionnaires").json()
    assert questionnaire["instruments"] == ["phq9"]
    assert phone.get("/api/v1/portal/progress").json() == []
    assert phone.get("/api/v1/portal/documents").json() == []


def test_cancel_check_in_journal_and_messages_through_the_api(
    phone, account, later_appointment, today_appointment
):
    made = post(phone, f"/api/v1/portal/appointments/{later_appointment.pk}/cancel", {})
    assert made.status_code == 201 and AppointmentRequest.objects.get().kind == "cancel"
    checkin = post(
        phone,
        f"/api/v1/portal/appointments/{today_appointment.pk}/checkin",
        {"escort_name": "Ana", "escort_phone": "207 555 0199", "benzodiazepine_last_12h": False},
    )
    assert checkin.status_code == 201 and PatientCheckin.objects.get().escort_name == "Ana"
    entry = post(phone, "/api/v1/portal/journal", {"text": "Shared", "share": True})
    assert entry.status_code == 201 and entry.json()["shared_at"] is not None
    assert [e["text"] for e in phone.get("/api/v1/portal/journal").json()] == ["Shared"]
    sent = post(phone, "/api/v1/portal/messages", {"subject": "Hi", "body": "Hello"})
    assert sent.status_code == 201
    thread_id = sent.json()["thread_id"]
    reply = post(phone, "/api/v1/portal/messages", {"thread": thread_id, "body": "Again"})
    assert reply.status_code == 201
    assert [m["body"] for m in phone.get("/api/v1/portal/messages").json()] == ["Hello", "Again"]


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/portal/journal", {"text": ""}),
        ("/api/v1/portal/journal", {"text": "x", "needs_help": True}),
        ("/api/v1/portal/messages", {"subject": "", "body": "x"}),
        ("/api/v1/portal/messages", {"body": "x" * 5000}),
    ],
)
def test_bad_bodies_are_422_and_store_nothing(phone, account, url, body):
    assert post(phone, url, body).status_code == 422
    assert not JournalEntry.objects.exists() and not Thread.objects.exists()


def test_a_second_patients_ids_answer_404_through_the_api(phone, account, other_rows):
    rows = other_rows
    for url, body in [
        (f"/api/v1/portal/appointments/{rows['appointment'].pk}/cancel", {}),
        (
            f"/api/v1/portal/appointments/{rows['appointment'].pk}/checkin",
            {"escort_name": "A", "escort_phone": "2075550199", "benzodiazepine_last_12h": False},
        ),
        (f"/api/v1/portal/homework/{rows['homework'].pk}/done", {}),
        ("/api/v1/portal/messages", {"thread": rows["thread"].pk, "body": "hi"}),
    ]:
        assert post(phone, url, body).status_code == 404, url
    for url in (
        "/api/v1/portal/journal",
        "/api/v1/portal/messages",
        "/api/v1/portal/questionnaires",
    ):
        assert "Tom" not in phone.get(url).content.decode()
        assert "Private question" not in phone.get(url).content.decode()
    assert not AppointmentRequest.objects.exists() and not PatientCheckin.objects.exists()


def test_the_staff_inbox_lists_threads(account, staff, api_client, phone):
    post(phone, "/api/v1/portal/messages", {"subject": "Hi", "body": "Hello"})
    [row] = api_client(staff["front_desk"]).get("/api/v1/messages").json()
    assert row["subject"] == "Hi" and row["unread"] is True
