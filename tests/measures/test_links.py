"""Questionnaires the patient fills in from an e-mailed link; schedules and reminders."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures import services
from ketaclinic.measures.models import Alert, LinkToken, QuestionnaireLink, Response, Schedule
from tests.patching import patch_everywhere

pytestmark = pytest.mark.django_db

PHQ9_CALM = {f"phq9-item_{n}": "1" for n in range(1, 9)} | {"phq9-item_9": "0"}


@pytest.fixture(autouse=True)
def clear_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def emailed(patient):
    patient.email = "maria@example.org"
    patient.save(update_fields=["email"])
    return patient


def send(login, membership, patient, codes, capture):
    with capture(execute=True):
        response = login(membership).post(
            f"/measures/patients/{patient.pk}/send/", {"instruments": codes}
        )
    assert response.status_code == 302
    return token_from(mail.outbox[-1].body)


def token_from(body: str) -> str:
    return re.search(r"/q/([A-Za-z0-9_\-]+)/", body).group(1)


def test_the_front_desk_sends_a_bundle_and_only_a_hash_is_stored(
    login, staff, emailed, django_capture_on_commit_callbacks
):
    token = send(
        login,
        staff["front_desk"],
        emailed,
        ["phq9", "gad7", "cssrs_screen"],
        django_capture_on_commit_callbacks,
    )
    link = QuestionnaireLink.objects.get()
    assert link.instruments == ["phq9", "gad7", "cssrs_screen"]
    assert LinkToken.objects.get().token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(QuestionnaireLink.objects.values().get())
    assert token not in str(LinkToken.objects.values().get())
    assert link.expires_at - link.created_at == timedelta(hours=72)
    message = mail.outbox[0]
    assert message.to == ["maria@example.org"]
    assert "Harbor Light" in message.body
    assert "Maria" not in message.body + message.subject and "Garcia" not in message.body
    assert AuditEvent.objects.get(action="send").patient_id == emailed.pk


def test_the_link_lifetime_is_configurable(
    login, staff, emailed, settings, django_capture_on_commit_callbacks
):
    settings.KETACLINIC_LINK_HOURS = 24
    send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    link = QuestionnaireLink.objects.get()
    assert link.expires_at - link.created_at == timedelta(hours=24)


def test_a_clinician_rated_instrument_cannot_be_sent(login, staff, emailed):
    login(staff["nurse"]).post(f"/measures/patients/{emailed.pk}/send/", {"instruments": ["madrs"]})
    assert not QuestionnaireLink.objects.exists() and mail.outbox == []


def test_the_public_page_shows_only_the_clinic_and_questions(
    login, staff, emailed, django_capture_on_commit_callbacks
):
    token = send(
        login, staff["nurse"], emailed, ["phq9", "gad7"], django_capture_on_commit_callbacks
    )
    page = Client().get(f"/q/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Harbor Light" in html
    assert "Little interest or pleasure in doing things" in html
    assert "Generalized Anxiety Disorder" in html
    for private in (emailed.given_name, emailed.family_name, emailed.mrn, "1984", emailed.phone):
        assert private not in html
    assert page["Cache-Control"] == "no-store"
    opened = AuditEvent.objects.get(action="view", role="patient")
    assert (opened.patient_id, opened.object_type) == (emailed.pk, "measures.questionnairelink")


def test_submitting_records_responses_spends_the_link_and_raises_alerts(
    login, staff, emailed, doctor_email, django_capture_on_commit_callbacks
):
    token = send(
        login, staff["nurse"], emailed, ["phq9", "gad7"], django_capture_on_commit_callbacks
    )
    answers = {**PHQ9_CALM, "phq9-item_9": "2"} | {f"gad7-item_{n}": "2" for n in range(1, 8)}
    with django_capture_on_commit_callbacks(execute=True):
        done = Client().post(f"/q/{token}/", answers)
    assert done.status_code == 200
    assert "your answers were received" in done.content.decode()
    phq, gad = Response.objects.order_by("instrument").reverse()
    assert (phq.instrument, phq.total, phq.source, phq.entered_by) == (
        "phq9",
        10,
        "patient_link",
        None,
    )
    assert (gad.total, gad.severity) == (14, "moderate")
    alert = Alert.objects.get()
    assert alert.level == "urgent" and alert.response == phq
    assert QuestionnaireLink.objects.get().used_at is not None
    assert mail.outbox[-1].to == [doctor_email]
    assert "Maria" not in mail.outbox[-1].body


def test_a_used_link_says_so_and_stores_nothing_more(
    login, staff, emailed, django_capture_on_commit_callbacks
):
    token = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    Client().post(f"/q/{token}/", PHQ9_CALM)
    again = Client().post(f"/q/{token}/", PHQ9_CALM)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert Client().get(f"/q/{token}/").status_code == 410
    assert Response.objects.count() == 1


def test_an_expired_link_says_so(login, staff, emailed, django_capture_on_commit_callbacks):
    token = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    QuestionnaireLink.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    page = Client().get(f"/q/{token}/")
    assert page.status_code == 410 and "This link has expired" in page.content.decode()
    assert Client().post(f"/q/{token}/", PHQ9_CALM).status_code == 410
    assert not Response.objects.exists()


def test_an_unknown_link_says_so(db):
    page = Client().get("/q/not-a-real-token/")
    assert page.status_code == 404 and "This link is not valid" in page.content.decode()


def test_a_missing_answer_keeps_the_link_and_names_the_question(
    login, staff, emailed, django_capture_on_commit_callbacks
):
    token = send(
        login, staff["nurse"], emailed, ["phq9", "gad7"], django_capture_on_commit_callbacks
    )
    answers = PHQ9_CALM | {f"gad7-item_{n}": "1" for n in range(1, 7)}  # GAD-7 item 7 missing
    page = Client().post(f"/q/{token}/", answers)
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 question left blank" in html
    assert "Not answered yet" in html
    assert 'value="1" checked' in html  # what was answered stays answered
    assert not Response.objects.exists()
    assert QuestionnaireLink.objects.get().used_at is None
    # GAD-7 scores only when complete: sending with the blank is refused by the service.
    anyway = Client().post(f"/q/{token}/", answers | {"skip_anyway": "1"})
    assert "item 7: an answer is required" in anyway.content.decode()
    assert not Response.objects.exists()
    assert QuestionnaireLink.objects.get().used_at is None


def test_a_blank_item_9_is_asked_again_before_the_link_is_spent_and_alerts_when_sent(
    login, staff, emailed, django_capture_on_commit_callbacks
):

    token = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    blank_9 = {k: v for k, v in PHQ9_CALM.items() if k != "phq9-item_9"}
    asked = Client().post(f"/q/{token}/", blank_9)
    html = asked.content.decode()
    assert asked.status_code == 200
    assert "1 question left blank" in html and "Send with blanks" in html
    assert not Response.objects.exists() and not Alert.objects.exists()
    assert QuestionnaireLink.objects.get().used_at is None
    sent = Client().post(f"/q/{token}/", blank_9 | {"skip_anyway": "1"})
    assert sent.status_code == 200
    assert Response.objects.count() == 1
    assert QuestionnaireLink.objects.get().used_at is not None
    assert list(Alert.objects.values_list("code", flat=True)) == ["suicidality_unanswered"]


def test_the_cssrs_form_skips_what_its_gate_says_to_skip(
    login, staff, emailed, django_capture_on_commit_callbacks
):
    token = send(
        login, staff["nurse"], emailed, ["cssrs_screen"], django_capture_on_commit_callbacks
    )
    # Q2 no: Q3-Q5 are ignored even if ticked; Q6 no: the follow-up is ignored.
    answers = {
        "cssrs_screen-item_1": "true",
        "cssrs_screen-item_2": "false",
        "cssrs_screen-item_3": "true",
        "cssrs_screen-item_6": "false",
        "cssrs_screen-item_7": "true",
    }
    assert Client().post(f"/q/{token}/", answers).status_code == 200
    stored = Response.objects.get()
    assert stored.answers == [True, False, None, None, None, False, None]
    assert stored.severity == "low"


def test_the_public_page_is_rate_limited(login, staff, emailed, django_capture_on_commit_callbacks):
    token = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    client = Client()
    codes = [client.get(f"/q/{token}/").status_code for _ in range(25)]
    assert codes[:20] == [200] * 20
    assert codes[20:] == [429] * 5
    limited = client.get(f"/q/{token}/")
    assert "Too many attempts" in limited.content.decode()
    # Guessing tokens from one address is limited too.
    guesses = [Client().get(f"/q/guess{i}/").status_code for i in range(60)]
    assert guesses.count(429) > 0


def test_every_n_days_sends_then_waits(staff, emailed, login, django_capture_on_commit_callbacks):
    client = login(staff["nurse"])
    client.post(
        f"/measures/patients/{emailed.pk}/schedules/",
        {"instruments": ["phq9", "gad7"], "kind": "every_n_days", "every_days": "7"},
    )
    schedule = Schedule.objects.get()
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_due_questionnaires(now) == 1
    link = QuestionnaireLink.objects.get()
    assert link.schedule == schedule and link.instruments == ["phq9", "gad7"]
    assert len(mail.outbox) == 1
    schedule.refresh_from_db()
    assert schedule.next_due_at > now + timedelta(days=6, hours=23)
    # Nothing more is due until the next week.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_due_questionnaires(now + timedelta(hours=1)) == 0


def test_reminders_go_twice_then_the_link_expires(
    staff, emailed, login, django_capture_on_commit_callbacks
):
    token = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    created = QuestionnaireLink.objects.get().created_at
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_due_questionnaires(created + timedelta(hours=23)) == 0
        assert services.send_due_questionnaires(created + timedelta(hours=24, minutes=1)) == 1
        assert services.send_due_questionnaires(created + timedelta(hours=30)) == 0
        assert services.send_due_questionnaires(created + timedelta(hours=48, minutes=1)) == 1
        assert services.send_due_questionnaires(created + timedelta(hours=70)) == 0
    assert len(mail.outbox) == 3
    assert mail.outbox[1].subject.startswith("Reminder:")
    assert "The link in the earlier e-mail works too" in mail.outbox[1].body
    assert QuestionnaireLink.objects.get().reminders_sent == 2
    # Each reminder carries a fresh token; every token sent still opens the link.
    tokens = [token_from(m.body) for m in mail.outbox]
    assert len(set(tokens)) == 3 and tokens[0] == token
    for sent in tokens:
        assert Client().get(f"/q/{sent}/").status_code == 200
    assert LinkToken.objects.count() == 3


def test_a_patient_who_opened_the_first_email_submits_after_a_reminder(
    staff, emailed, login, doctor_email, django_capture_on_commit_callbacks
):
    """The page opened from the first e-mail still takes the answers once a reminder went."""
    first = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    patient_page = Client()
    assert patient_page.get(f"/q/{first}/").status_code == 200
    created = QuestionnaireLink.objects.get().created_at
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_due_questionnaires(created + timedelta(hours=24, minutes=1)) == 1
    reminder = token_from(mail.outbox[-1].body)
    with django_capture_on_commit_callbacks(execute=True):
        done = patient_page.post(f"/q/{first}/", {**PHQ9_CALM, "phq9-item_9": "1"})
    assert done.status_code == 200
    assert "your answers were received" in done.content.decode()
    assert Response.objects.get().total == 9
    assert Alert.objects.get().code == "suicidality"
    assert mail.outbox[-1].to == [doctor_email]
    # The link is spent for every token it was sent with.
    again = Client().get(f"/q/{reminder}/")
    assert again.status_code == 410 and "already been used" in again.content.decode()


def test_a_link_that_expires_while_the_answers_are_sent_says_expired_not_used(
    login, staff, emailed, monkeypatch, django_capture_on_commit_callbacks
):
    token = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    read = services.find_link
    calls = []

    def expires_after_the_page_reads_it(raw):
        found = read(raw)
        calls.append(found[1])
        QuestionnaireLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        return found

    patch_everywhere(monkeypatch, services, "find_link", expires_after_the_page_reads_it)
    page = Client().post(f"/q/{token}/", PHQ9_CALM)
    assert calls[0] == "valid"
    assert page.status_code == 410
    html = page.content.decode()
    assert "This link has expired" in html and "already been used" not in html
    assert not Response.objects.exists()
    assert QuestionnaireLink.objects.get().used_at is None


def test_a_link_spent_between_reading_and_storing_says_used(
    login, staff, emailed, monkeypatch, django_capture_on_commit_callbacks
):
    token = send(login, staff["nurse"], emailed, ["phq9"], django_capture_on_commit_callbacks)
    read = services.find_link

    def read_then_spent_elsewhere(raw):
        found = read(raw)
        QuestionnaireLink.objects.update(used_at=timezone.now())  # another tab submitted
        return found

    patch_everywhere(monkeypatch, services, "find_link", read_then_spent_elsewhere)
    with pytest.raises(services.LinkUnavailable) as err:
        services.submit_link(raw=token, answers={"phq9": [0] * 9})
    assert err.value.state == "used"
    assert not Response.objects.exists()


def test_a_post_to_an_unknown_link_says_not_valid(db):
    page = Client().post("/q/not-a-real-token/", PHQ9_CALM)
    assert page.status_code == 404
    html = page.content.decode()
    assert "This link is not valid" in html and "already been used" not in html
    assert not Response.objects.exists()


def test_the_worker_survives_a_failing_job(monkeypatch, db, settings):
    settings.DEBUG = True  # the worker refuses production mode with the development key
    from ketaclinic.worker import jobs
    from ketaclinic.worker.management.commands import worker

    ran = []

    def broken(now):
        raise RuntimeError("mail server down")

    def counting(now):
        ran.append(now)
        return 1

    monkeypatch.setattr(jobs, "JOBS", [(broken, 0), (counting, 0)])
    worker.Command(stdout=open("/dev/null", "w")).handle(every=0, once=True)
    assert len(ran) == 1
