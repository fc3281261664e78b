"""The portal's pages as the patient uses them: each form valid, empty and hostile; the
patient's own rows only; every read and write audited with the patient as the actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.integration.models import Homework, JournalEntry
from ketaclinic.measures.models import Alert, QuestionnaireLink, Response
from ketaclinic.portal.models import AppointmentRequest, Message, Thread
from ketaclinic.treatment.patient_checkin import PatientCheckin
from tests.portal.conftest import actor_of, appointment_for, due_link, homework_for

pytestmark = pytest.mark.django_db

PAGES = [
    "portal_home",
    "portal_appointments",
    "portal_questionnaires",
    "portal_progress",
    "portal_journal",
    "portal_homework",
    "portal_messages",
    "portal_documents",
]
HOSTILE = "<script>alert('x')</script>' OR 1=1; --\x00"


def _patient_events(account, action=None):
    rows = AuditEvent.objects.filter(user_id=account.user_id, role="patient")
    return rows.filter(action=action) if action else rows


def test_every_page_answers_the_patient_and_is_audited_with_the_patient_as_actor(
    account, patient_client
):
    for name in PAGES:
        response = patient_client.get(reverse(name))
        assert response.status_code == 200, name
        assert b"988" in response.content, name  # the crisis line on every page
    whats = set(_patient_events(account, "view").values_list("detail__what", flat=True))
    assert {f"portal_{n.removeprefix('portal_')}" for n in PAGES} <= whats
    assert set(_patient_events(account).values_list("patient_id", flat=True)) == {
        account.patient_id
    }


def test_the_crisis_line_is_configurable(account, patient_client, settings):
    settings.PORTAL_CRISIS_NUMBER = "116 123"
    assert b"116 123" in patient_client.get("/portal/").content


def test_home_shows_the_next_appointment_with_its_instructions(
    account, patient_client, today_appointment
):
    page = patient_client.get("/portal/").content.decode()
    assert "you may not drive until the next day" in page
    assert "Check in for today" in page


def test_appointments_never_show_a_staff_status(account, patient_client, room, portal_patient):
    appointment_for(
        portal_patient, room, start=timezone.now() - timedelta(days=3), status="no_show"
    )
    page = patient_client.get("/portal/appointments/").content.decode()
    assert "No-show" not in page and "no_show" not in page
    assert "Past" in page


def test_a_request_outside_the_late_window_goes_to_the_staff_queue(
    account, patient_client, later_appointment, staff, login
):
    url = f"/portal/appointments/{later_appointment.pk}/change/"
    assert patient_client.post(url, {"kind": "reschedule", "note": HOSTILE}).status_code == 302
    request = AppointmentRequest.objects.get()
    assert request.kind == "reschedule" and request.note == HOSTILE.replace("\x00", "")
    later_appointment.refresh_from_db()
    assert later_appointment.status == "booked"  # the clinic confirms; the patient never sets it
    assert _patient_events(account, "portal_request").count() == 1
    inbox = login(staff["front_desk"]).get("/messages/").content.decode()
    assert "asks to <strong>reschedule</strong>" in inbox
    assert "<script>alert" not in inbox


@pytest.mark.parametrize("kind", ["", "no_show", HOSTILE])
def test_a_request_of_an_unknown_kind_changes_nothing(
    account, patient_client, later_appointment, kind
):
    url = f"/portal/appointments/{later_appointment.pk}/change/"
    assert patient_client.post(url, {"kind": kind}).status_code == 302
    assert not AppointmentRequest.objects.exists()


def test_inside_the_late_window_the_page_says_to_call(
    account, patient_client, portal_patient, room, settings
):
    settings.PORTAL_LATE_CANCEL_HOURS = 48
    soon = appointment_for(portal_patient, room, start=timezone.now() + timedelta(hours=30))
    page = patient_client.get("/portal/appointments/").content.decode()
    assert "Too close to change online: please call the clinic." in page
    patient_client.post(f"/portal/appointments/{soon.pk}/change/", {"kind": "cancel"})
    assert not AppointmentRequest.objects.exists()


def test_each_appointment_downloads_as_ics(account, patient_client, later_appointment):
    response = patient_client.get(f"/portal/appointments/{later_appointment.pk}/calendar.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content.decode()
    assert "BEGIN:VEVENT" in body and f"portal-appointment-{later_appointment.pk}" in body
    assert "Garcia" not in body


CHECKIN = {
    "escort_name": "Ana Garcia",
    "escort_phone": "+1 207 555 0199",
    "last_food_at": "06:30",
    "last_liquids_at": "",
    "benzodiazepine_last_12h": "yes",
    "new_medicines": "Started sertraline 50 mg",
}


def test_check_in_records_what_the_patient_reports(account, patient_client, today_appointment):
    url = f"/portal/appointments/{today_appointment.pk}/check-in/"
    assert patient_client.get(url).status_code == 200
    assert patient_client.post(url, CHECKIN).status_code == 302
    checkin = PatientCheckin.objects.get()
    assert checkin.escort_name == "Ana Garcia" and checkin.benzodiazepine_last_12h is True
    assert checkin.last_liquids_at is None
    local = timezone.localtime(checkin.last_food_at, account.clinic.tz)
    assert (local.hour, local.minute) == (6, 30)
    assert _patient_events(account, "portal_checkin").count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"escort_name": ""},
        {"escort_phone": "call me"},
        {"last_food_at": "25:99"},
        {"benzodiazepine_last_12h": ""},
        {"escort_name": "x" * 500},
        {"new_medicines": HOSTILE * 100},
    ],
)
def test_a_bad_check_in_is_refused_and_stores_nothing(
    account, patient_client, today_appointment, change
):
    url = f"/portal/appointments/{today_appointment.pk}/check-in/"
    response = patient_client.post(url, {**CHECKIN, **change})
    assert response.status_code == 422
    assert not PatientCheckin.objects.exists()
    assert b"<script>alert" not in response.content


def test_check_in_is_closed_on_other_days(account, patient_client, later_appointment):
    url = f"/portal/appointments/{later_appointment.pk}/check-in/"
    assert b"Check-in opens on the day" in patient_client.get(url).content
    assert patient_client.post(url, CHECKIN).status_code == 422
    assert not PatientCheckin.objects.exists()


def _phq9(values):
    return {f"phq9-item_{n}": str(v) for n, v in enumerate(values, start=1)}


def test_a_questionnaire_is_scored_as_the_link_would_be(account, patient_client, portal_patient):
    link = due_link(portal_patient)
    url = f"/portal/questionnaires/{link.pk}/"
    assert patient_client.get(url).status_code == 200
    done = patient_client.post(url, _phq9([1, 1, 1, 1, 1, 1, 1, 1, 0]))
    assert done.status_code == 200 and b"Your answers were sent" in done.content
    response = Response.objects.get()
    assert (response.instrument, response.total, response.source) == ("phq9", 8, "patient_link")
    link.refresh_from_db()
    assert link.used_at is not None
    assert patient_client.get(url).status_code == 404  # spent
    assert not Alert.objects.exists()


def test_item_9_shows_the_crisis_line_at_once_and_opens_the_staff_alert(
    account, patient_client, portal_patient
):
    link = due_link(portal_patient)
    done = patient_client.post(
        f"/portal/questionnaires/{link.pk}/", _phq9([2, 2, 2, 2, 2, 2, 2, 2, 1])
    )
    assert b"Please reach out now" in done.content and b"988" in done.content
    alert = Alert.objects.get()
    assert alert.patient_id == portal_patient.pk and alert.status == "open"


def test_blank_and_hostile_answers_store_nothing(account, patient_client, portal_patient):
    link = due_link(portal_patient)
    url = f"/portal/questionnaires/{link.pk}/"
    assert patient_client.post(url, {}).status_code == 422
    hostile = patient_client.post(url, {**_phq9([9] * 9), "skip_anyway": "1"})
    assert hostile.status_code == 422
    assert patient_client.post(url, {"phq9-item_1": HOSTILE, "skip_anyway": "1"}).status_code == 422
    assert not Response.objects.exists()
    link.refresh_from_db()
    assert link.used_at is None


def test_progress_says_the_change_in_plain_words_with_a_table(
    account, patient_client, portal_patient, staff
):
    from ketaclinic.measures.services import record_response

    for days, answers in ((30, [3, 3, 3, 2, 2, 2, 2, 2, 0]), (1, [1, 1, 1, 1, 1, 1, 1, 1, 0])):
        record_response(
            actor=actor_of(staff["nurse"]),
            patient=portal_patient,
            instrument="phq9",
            answers=answers,
            taken_at=timezone.now() - timedelta(days=days),
        )
    page = patient_client.get("/portal/progress/").content.decode()
    assert "PHQ-9 went from 19 to 8 — that is a 58 % improvement." in page
    assert "<svg" in page and "<table" in page and "<caption>" in page
    assert "at least 50 %" in page  # response explained from the instrument's rule


def _count(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_home_and_progress_cost_the_same_queries_with_more_history(
    account, patient_client, portal_patient, staff, room
):
    from ketaclinic.measures.services import record_response

    def add_history(n):
        for i in range(n):
            record_response(
                actor=actor_of(staff["nurse"]),
                patient=portal_patient,
                instrument="phq9",
                answers=[1] * 8 + [0],
                taken_at=timezone.now() - timedelta(days=40 - i),
            )
            appointment_for(
                portal_patient, room, start=timezone.now() - timedelta(days=40 - i, hours=1)
            )
            homework_for(portal_patient, staff["therapist"], title=f"Walk {i}")

    add_history(2)
    before = {url: _count(patient_client, url) for url in ("/portal/", "/portal/progress/")}
    add_history(8)
    after = {url: _count(patient_client, url) for url in ("/portal/", "/portal/progress/")}
    assert after == before


def test_journal_entries_are_private_until_shared(
    account, patient_client, staff, login, portal_patient
):
    assert patient_client.post("/portal/journal/", {"text": "Just for me"}).status_code == 302
    assert (
        patient_client.post(
            "/portal/journal/", {"text": "For the team", "share": "yes"}
        ).status_code
        == 302
    )
    private, shared = JournalEntry.objects.order_by("pk")
    assert private.shared_at is None and shared.shared_at is not None
    timeline = login(staff["therapist"]).get(f"/integration/patients/{portal_patient.pk}/")
    page = timeline.content.decode()
    assert "For the team" in page and "Just for me" not in page
    assert patient_client.post(f"/portal/journal/{private.pk}/share/").status_code == 302
    private.refresh_from_db()
    assert private.shared_at is not None
    assert _patient_events(account, "journal_share").count() == 2
    assert not Alert.objects.exists()  # sharing alone alerts nobody


def test_i_need_help_on_a_shared_entry_alerts_staff(account, patient_client):
    patient_client.post(
        "/portal/journal/", {"text": "I can't cope", "share": "yes", "needs_help": "yes"}
    )
    entry = JournalEntry.objects.get()
    assert entry.needs_help and entry.alert is not None
    assert entry.alert.status == "open" and entry.alert.code == "patient_help_request"


def test_i_need_help_on_a_private_entry_is_refused(account, patient_client):
    response = patient_client.post("/portal/journal/", {"text": "Alone", "needs_help": "yes"})
    assert response.status_code == 422
    assert not JournalEntry.objects.exists() and not Alert.objects.exists()


@pytest.mark.parametrize("text", ["", "   ", "x" * 5000])
def test_an_empty_or_oversized_entry_is_refused(account, patient_client, text):
    assert patient_client.post("/portal/journal/", {"text": text}).status_code == 422
    assert not JournalEntry.objects.exists()


def test_a_hostile_entry_is_stored_as_text_and_escaped(account, patient_client):
    patient_client.post("/portal/journal/", {"text": HOSTILE})
    page = patient_client.get("/portal/journal/").content
    assert b"<script>alert" not in page and b"&lt;script&gt;" in page


def test_marking_homework_done_shows_on_the_therapists_timeline(
    account, patient_client, portal_patient, staff, login
):
    item = homework_for(portal_patient, staff["therapist"])
    assert patient_client.post(f"/portal/homework/{item.pk}/done/").status_code == 302
    item.refresh_from_db()
    assert item.done_at is not None
    assert _patient_events(account, "homework_done").count() == 1
    timeline = login(staff["therapist"]).get(f"/integration/patients/{portal_patient.pk}/")
    assert "✓ Done" in timeline.content.decode()


def test_messages_go_both_ways_and_the_email_says_only_that_one_is_waiting(
    account, patient_client, staff, login
):
    response = patient_client.post("/portal/messages/", {"subject": "Coffee?", "body": "May I?"})
    thread = Thread.objects.get()
    assert response.url == f"/portal/messages/{thread.pk}/"
    nurse = login(staff["nurse"])
    inbox = nurse.get("/messages/").content.decode()
    assert "Coffee?" in inbox
    mail.outbox.clear()
    nurse.post(f"/messages/{thread.pk}/", {"body": "Black coffee until 30 minutes before."})
    [message] = mail.outbox
    assert message.subject == "You have a new message"
    assert "coffee" not in message.body.lower() and "Garcia" not in message.body
    page = patient_client.get(f"/portal/messages/{thread.pk}/").content.decode()
    assert "Black coffee until 30 minutes before." in page
    assert "not for emergencies" in page
    nurse.post(f"/messages/{thread.pk}/assign/", {"assignee": staff["nurse"].pk})
    nurse.post(f"/messages/{thread.pk}/done/")
    thread.refresh_from_db()
    assert thread.assigned_to_id == staff["nurse"].pk and thread.done_at is not None
    assert "Coffee?" not in nurse.get("/messages/").content.decode()


@pytest.mark.parametrize(
    "data", [{}, {"subject": "", "body": "x"}, {"subject": "x" * 500, "body": "y"}]
)
def test_an_empty_or_oversized_message_is_refused(account, patient_client, data):
    assert patient_client.post("/portal/messages/", data).status_code == 422
    assert not Thread.objects.exists() and not Message.objects.exists()


@pytest.mark.parametrize("role", ["admin", "physician", "nurse", "therapist", "front_desk"])
def test_every_staff_role_answers_with_valid_empty_and_hostile_replies(account, staff, login, role):
    thread = Thread.objects.create(clinic=account.clinic, patient=account.patient, subject="Hi")
    client = login(staff[role])
    assert client.post(f"/messages/{thread.pk}/", {"body": ""}).status_code == 422
    assert client.post(f"/messages/{thread.pk}/", {"body": HOSTILE}).status_code == 302
    assert client.post(f"/messages/{thread.pk}/", {"body": "Thanks"}).status_code == 302
    assert client.post(f"/messages/{thread.pk}/assign/", {"assignee": "junk"}).status_code == 302
    assert Thread.objects.get().assigned_to_id is None
    assert Message.objects.count() == 2


def test_documents_list_signed_consents_only(account, patient_client):
    page = patient_client.get("/portal/documents/").content.decode()
    assert "No documents yet" in page


def test_a_second_patients_rows_answer_404_on_every_portal_url(account, patient_client, other_rows):
    rows = other_rows
    urls = [
        ("get", f"/portal/appointments/{rows['appointment'].pk}/calendar.ics"),
        ("get", f"/portal/appointments/{rows['appointment'].pk}/check-in/"),
        ("post", f"/portal/appointments/{rows['appointment'].pk}/check-in/"),
        ("post", f"/portal/appointments/{rows['appointment'].pk}/change/"),
        ("get", f"/portal/questionnaires/{rows['link'].pk}/"),
        ("post", f"/portal/questionnaires/{rows['link'].pk}/"),
        ("post", f"/portal/journal/{rows['entry'].pk}/share/"),
        ("post", f"/portal/homework/{rows['homework'].pk}/done/"),
        ("get", f"/portal/messages/{rows['thread'].pk}/"),
        ("post", f"/portal/messages/{rows['thread'].pk}/"),
        ("get", "/portal/documents/consents/999999.pdf"),
        ("get", "/portal/messages/abc/"),
    ]
    for method, url in urls:
        assert getattr(patient_client, method)(url).status_code == 404, url
    for name in PAGES:
        page = patient_client.get(reverse(name)).content.decode()
        assert "Tom" not in page and "Private question" not in page, name
    assert not AppointmentRequest.objects.exists() and not PatientCheckin.objects.exists()
    assert Homework.objects.get().done_at is None
    assert JournalEntry.objects.get().shared_at is None
    assert Message.objects.count() == 1
    assert QuestionnaireLink.objects.get().used_at is None
