"""The progress note's documented psychotherapy time (minutes, face to face): the form,
the API and the signed note show it; anything but a whole number 1-240 is a field error."""

from __future__ import annotations

import pytest

from ketaclinic.integration.models import ProgressNote
from tests.unchanged import nothing_changed

pytestmark = pytest.mark.django_db
MESSAGE = "Give the face-to-face psychotherapy time in whole minutes, 1 to 240."


def test_the_therapist_documents_minutes_and_the_signed_note_shows_them(staff, patient, login):
    client = login(staff["therapist"])
    answer = client.post(
        f"/integration/patients/{patient.pk}/notes/new/",
        {
            "template": "dap",
            "data": "Talked about the session.",
            "risk": "none",
            "psychotherapy_minutes": "45",
            "sign": "on",
        },
    )
    assert answer.status_code == 302
    note = ProgressNote.objects.get()
    assert (note.psychotherapy_minutes, note.signed_at is not None) == (45, True)
    page = client.get(answer["Location"]).content.decode()
    assert "Psychotherapy time" in page and "45 min face to face" in page
    form = client.get(f"/integration/patients/{patient.pk}/notes/new/").content.decode()
    assert "Psychotherapy time (minutes, face to face)" in form


def test_a_note_without_minutes_says_they_are_not_documented(staff, patient, login):
    client = login(staff["therapist"])
    client.post(
        f"/integration/patients/{patient.pk}/notes/new/",
        {"template": "dap", "data": "Talked.", "risk": "none", "sign": "on"},
    )
    note = ProgressNote.objects.get()
    assert note.psychotherapy_minutes is None
    page = client.get(f"/integration/notes/{note.pk}/").content.decode()
    assert "Not documented" in page


@pytest.mark.parametrize("typed", ["0", "-5", "241", "1000", "45.5", "forty", "<b>1</b>"])
def test_the_form_refuses_impossible_minutes_by_the_field_keeping_the_text(
    staff, patient, login, typed
):
    client = login(staff["therapist"])
    with nothing_changed(ProgressNote):
        answer = client.post(
            f"/integration/patients/{patient.pk}/notes/new/",
            {
                "template": "dap",
                "data": "Kept as typed",
                "risk": "none",
                "psychotherapy_minutes": typed,
            },
        )
    assert answer.status_code == 422
    page = answer.content.decode()
    assert MESSAGE in page and "Kept as typed" in page


def post(client, patient, body):
    return client.post(
        f"/api/v1/patients/{patient.pk}/notes", body, content_type="application/json"
    )


def test_the_api_takes_and_returns_the_minutes(staff, patient, api_client):
    body = {"kind": "progress", "template": "dap", "fields": {"data": "Talked."}}
    created = post(api_client(staff["therapist"]), patient, {**body, "psychotherapy_minutes": 240})
    assert created.status_code == 201, created.content
    assert created.json()["psychotherapy_minutes"] == 240
    read = api_client(staff["nurse"]).get(f"/api/v1/notes/{created.json()['id']}")
    assert read.json()["psychotherapy_minutes"] == 240
    plain = post(api_client(staff["therapist"]), patient, body)
    assert plain.json()["psychotherapy_minutes"] is None


@pytest.mark.parametrize("minutes", [0, -1, 241, 100000, "many", True, 45.5])
def test_the_api_refuses_impossible_minutes_and_writes_nothing(staff, patient, api_client, minutes):
    body = {"kind": "progress", "template": "dap", "fields": {"data": "Talked."}}
    therapist = api_client(staff["therapist"])
    with nothing_changed(ProgressNote):
        answer = post(therapist, patient, {**body, "psychotherapy_minutes": minutes})
    assert answer.status_code == 422, minutes
    assert "psychotherapy_minutes" in answer.content.decode()


def test_minutes_belong_on_the_progress_note_not_the_private_note(staff, patient, api_client):
    answer = post(
        api_client(staff["therapist"]),
        patient,
        {"kind": "psychotherapy", "text": "Private.", "psychotherapy_minutes": 45},
    )
    assert answer.status_code == 422
    assert "progress note" in answer.content.decode()
