"""Suicidality alerts: opened by the answers, e-mailed without patient data, closed only by a person."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures import services
from ketaclinic.measures.models import Alert, Response
from ketaclinic.outcomes.upkeep import refresh_patients
from tests.measures.conftest import PHQ9_URL, post
from tests.patching import patch_everywhere

pytestmark = pytest.mark.django_db

ITEM9 = [0, 0, 0, 0, 0, 0, 0, 0, 1]


def open_alert(client, patient) -> Alert:
    response = post(client, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": ITEM9})
    assert response.status_code == 201
    return Alert.objects.get()


def test_phq9_item_9_opens_an_urgent_alert_whatever_the_total(api_client, staff, patient):
    body = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": ITEM9},
    ).json()
    assert body["total"] == 1 and body["severity"] == "minimal"
    assert [(a["code"], a["level"]) for a in body["alerts"]] == [("suicidality", "urgent")]
    alert = Alert.objects.get()
    assert (alert.patient, alert.level, alert.status, alert.response_id) == (
        patient,
        "urgent",
        "open",
        body["id"],
    )
    assert "item 9" in alert.message


def test_item_9_at_zero_opens_nothing(api_client, staff, patient):
    post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [3, 3, 3, 3, 3, 3, 3, 3, 0]},
    )
    assert not Alert.objects.exists()


def test_qids_item_12_at_2_opens_a_high_alert(api_client, staff, patient):
    answers = [0] * 16
    answers[11] = 2
    body = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "qids_sr16", "answers": answers},
    ).json()
    assert [(a["code"], a["level"]) for a in body["alerts"]] == [("suicidality", "high")]
    assert Alert.objects.get().level == "high"


def test_the_physicians_are_emailed_on_commit_without_patient_data(
    api_client, staff, patient, doctor_email, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        alert = open_alert(api_client(staff["nurse"]), patient)
    # One e-mail callback (the other refreshes the patient's outcome rows).
    assert len([c for c in callbacks if getattr(c, "func", None) is not refresh_patients]) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [doctor_email]
    text = message.subject + message.body
    assert f"patient id {patient.pk}" in text
    assert f"/patients/{patient.pk}/" in text
    assert f"Alert {alert.pk}: Suicidality (urgent)" in text
    assert "An urgent safety alert is open" in message.body
    for private in (
        patient.given_name,
        patient.family_name,
        patient.mrn,
        "1984",
        "better off dead",
    ):
        assert private not in text


def test_no_email_before_the_transaction_commits(api_client, staff, patient, doctor_email):
    open_alert(api_client(staff["nurse"]), patient)
    assert mail.outbox == []


def test_a_refused_answer_sends_nothing(
    api_client, staff, patient, doctor_email, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(
            api_client(staff["nurse"]),
            PHQ9_URL.format(patient.pk),
            {"instrument": "phq9", "answers": [0, 0, 0, 0, 0, 0, 0, 9, 1]},
        )
    assert mail.outbox == [] and not Alert.objects.exists()


def test_alerts_list_open_ones_for_the_clinic(api_client, staff, patient):
    alert = open_alert(api_client(staff["nurse"]), patient)
    body = api_client(staff["admin"]).get("/api/v1/alerts?status=open").json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item == {
        "id": alert.pk,
        "patient_id": patient.pk,
        "origin": "",
        "response_id": alert.response_id,
        "code": "suicidality",
        "level": "urgent",
        "message": alert.message,
        "opened_at": item["opened_at"],
        "status": "open",
        "resolved_by": None,
        "resolved_at": None,
        "action": "",
        "note": "",
    }
    assert api_client(staff["admin"]).get("/api/v1/alerts?status=resolved").json()["count"] == 0
    event = (
        AuditEvent.objects.filter(action="view", object_type="measures.alert")
        .order_by("id")
        .first()
    )
    assert event.detail["alerts"] == [alert.pk] and event.detail["patients"] == [patient.pk]


@pytest.mark.parametrize("role", ["physician", "nurse", "therapist"])
def test_a_clinician_resolves_with_the_action_taken(api_client, staff, patient, role):
    alert = open_alert(api_client(staff["nurse"]), patient)
    response = post(
        api_client(staff[role]),
        f"/api/v1/alerts/{alert.pk}/resolve",
        {"action": "safety_assessment", "note": "Seen in clinic; no current intent."},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "resolved"
    assert body["action"] == "safety_assessment"
    assert body["resolved_by"] == staff[role].user.username
    alert.refresh_from_db()
    assert alert.resolved_by == staff[role].user and alert.resolved_at is not None
    assert alert.note == "Seen in clinic; no current intent."
    event = AuditEvent.objects.get(action="resolve")
    assert event.patient_id == patient.pk and event.detail["action"] == "safety_assessment"
    assert "no current intent" not in str(event.detail)


@pytest.mark.parametrize("role", ["admin", "front_desk"])
def test_other_roles_are_refused_and_nothing_changes(api_client, staff, patient, role):
    alert = open_alert(api_client(staff["nurse"]), patient)
    response = post(
        api_client(staff[role]),
        f"/api/v1/alerts/{alert.pk}/resolve",
        {"action": "safety_plan", "note": "x"},
    )
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open" and alert.resolved_by is None and alert.action == ""
    assert not AuditEvent.objects.filter(action="resolve").exists()


def test_an_alert_resolves_once(api_client, staff, patient):
    alert = open_alert(api_client(staff["nurse"]), patient)
    url = f"/api/v1/alerts/{alert.pk}/resolve"
    assert post(api_client(staff["physician"]), url, {"action": "referral"}).status_code == 200
    second = post(api_client(staff["nurse"]), url, {"action": "safety_plan", "note": "again"})
    assert second.status_code == 422
    alert.refresh_from_db()
    assert alert.action == "referral" and alert.resolved_by == staff["physician"].user


def test_it_refuses_an_unknown_action_and_other_without_a_note(api_client, staff, patient):
    alert = open_alert(api_client(staff["nurse"]), patient)
    url = f"/api/v1/alerts/{alert.pk}/resolve"
    bad = post(api_client(staff["physician"]), url, {"action": "ignored"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "action"
    other = post(api_client(staff["physician"]), url, {"action": "other", "note": " "})
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["body", "note"]
    alert.refresh_from_db()
    assert alert.status == "open"


def test_nothing_but_a_person_closes_an_alert(api_client, staff, patient):
    """A later calm score, a later C-SSRS of no risk and the worker all leave it open."""
    client = api_client(staff["nurse"])
    alert = open_alert(client, patient)
    post(client, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": [0] * 9})
    post(
        client,
        PHQ9_URL.format(patient.pk),
        {"instrument": "cssrs_screen", "answers": [False, False, None, None, None, False, None]},
    )
    services.send_due_questionnaires()
    alert.refresh_from_db()
    assert alert.status == "open"
    assert Response.objects.count() == 3


def test_the_alert_list_page_has_a_fixed_query_count(login, staff, patient, api_client):
    client = login(staff["nurse"])
    open_alert(api_client(staff["nurse"]), patient)
    client.get("/alerts/")
    with CaptureQueriesContext(connection) as one:
        assert client.get("/alerts/").status_code == 200
    for _ in range(6):
        post(
            api_client(staff["nurse"]),
            PHQ9_URL.format(patient.pk),
            {"instrument": "phq9", "answers": ITEM9},
        )
    with CaptureQueriesContext(connection) as seven:
        page = client.get("/alerts/")
    assert page.content.decode().count('class="panel alert-card') == 7
    assert len(seven) == len(one)


def test_the_alert_page_resolves_with_a_note(login, staff, patient, api_client):
    alert = open_alert(api_client(staff["nurse"]), patient)
    client = login(staff["therapist"])
    page = client.get("/alerts/").content.decode()
    assert "Suicidality — urgent" in page and patient.family_name in page
    response = client.post(
        f"/alerts/{alert.pk}/resolve/",
        {"action": "safety_plan", "note": "Plan reviewed with patient."},
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.action == "safety_plan"
    assert "No open alerts." in client.get("/alerts/").content.decode()


def test_the_admin_sees_alerts_but_cannot_resolve_them_from_the_page(
    login, staff, patient, api_client
):
    alert = open_alert(api_client(staff["nurse"]), patient)
    client = login(staff["admin"])
    assert "Your role cannot resolve alerts" in client.get("/alerts/").content.decode()
    assert client.post(f"/alerts/{alert.pk}/resolve/", {"action": "referral"}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"


def test_the_chart_header_shows_the_open_alert(login, staff, patient, api_client):
    alert = open_alert(api_client(staff["nurse"]), patient)
    page = login(staff["physician"]).get(f"/patients/{patient.pk}/").content.decode()
    assert "⛔ Suicidality alert — urgent" in page
    assert f'href="/alerts/#alert-{alert.pk}"' in page
    front = login(staff["front_desk"]).get(f"/patients/{patient.pk}/").content.decode()
    assert "Suicidality alert" not in front


def test_the_nav_shows_the_open_count(login, staff, patient, api_client):
    open_alert(api_client(staff["nurse"]), patient)
    page = login(staff["physician"]).get("/patients/").content.decode()
    assert "Alerts" in page and "1 open" in page


def test_urgent_alerts_come_before_high_ones_then_the_oldest(api_client, staff, patient):
    client = api_client(staff["nurse"])
    qids = [0] * 16
    qids[11] = 2
    post(client, PHQ9_URL.format(patient.pk), {"instrument": "qids_sr16", "answers": qids})
    post(client, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": ITEM9})
    post(client, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": ITEM9})
    items = api_client(staff["physician"]).get("/api/v1/alerts").json()["items"]
    assert [i["level"] for i in items] == ["urgent", "urgent", "high"]
    assert items[0]["id"] < items[1]["id"]


# --- a skipped suicidality item ----------------------------------------------------


def test_a_skipped_item_9_is_prorated_but_opens_an_alert_a_person_must_close(
    api_client, staff, patient
):
    body = post(
        api_client(staff["nurse"]),
        PHQ9_URL.format(patient.pk),
        {"instrument": "phq9", "answers": [3, 3, 3, 3, 3, 3, 3, 3, None]},
    ).json()
    assert (body["total"], body["prorated"], body["missing_items"]) == (27, True, [9])
    assert [(a["code"], a["level"]) for a in body["alerts"]] == [("suicidality_unanswered", "high")]
    alert = Alert.objects.get()
    assert (alert.code, alert.level, alert.status) == ("suicidality_unanswered", "high", "open")
    assert "ask the patient directly" in alert.message
    services.send_due_questionnaires()
    services.notify_unnotified_alerts()
    alert.refresh_from_db()
    assert alert.status == "open"
    listed = api_client(staff["physician"]).get("/api/v1/alerts?status=open").json()["items"]
    assert [i["code"] for i in listed] == ["suicidality_unanswered"]


def test_the_entry_page_shows_the_skipped_item_and_its_alert(login, staff, patient):
    data = {"instrument": "phq9"} | {f"item_{n}": "3" for n in range(1, 9)}
    html = (
        login(staff["nurse"]).post(f"/measures/patients/{patient.pk}/enter/", data).content.decode()
    )
    assert '<span class="big num">27</span>' in html
    assert "Skipped: item 9; the total is prorated from the mean of the answered items." in html
    assert "Suicidality unanswered alert — high" in html
    assert Alert.objects.get().code == "suicidality_unanswered"


# --- who is told, and until the e-mail goes ------------------------------------------


@pytest.fixture
def dr_patel(clinic):
    """A second physician of the clinic, with an address."""
    from ketaclinic.accounts.services import add_staff

    return add_staff(
        username="drpatel",
        clinic=clinic,
        role="physician",
        password="x-" * 10,
        email="patel@harbor.example",
    )


def test_without_a_care_team_record_every_physician_is_emailed(
    api_client, staff, patient, doctor_email, dr_patel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alert = open_alert(api_client(staff["nurse"]), patient)
    assert mail.outbox[0].to == [doctor_email, "patel@harbor.example"]
    alert.refresh_from_db()
    assert alert.notified_at is not None


def test_the_prescriber_of_the_patients_course_is_emailed_alone(
    api_client, staff, patient, clinic, doctor_email, dr_patel, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from tests.measures.conftest import dosed_session

    dosed_session(clinic, patient, dr_patel, timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        open_alert(api_client(staff["nurse"]), patient)
    assert [m.to for m in mail.outbox] == [["patel@harbor.example"]]


def test_the_physician_who_decided_the_screening_is_emailed_when_there_is_no_course(
    api_client, staff, patient, clinic, doctor_email, dr_patel, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from ketaclinic.screening.models import Screening

    Screening.objects.create(
        clinic=clinic,
        patient=patient,
        protocol="ketamine-iv-mood",
        ruleset_version=1,
        result="eligible",
        created_by=staff["nurse"].user,
        decision="accept",
        decided_by=dr_patel.user,
        decided_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        open_alert(api_client(staff["nurse"]), patient)
    assert [m.to for m in mail.outbox] == [["patel@harbor.example"]]


def test_a_prescriber_without_an_address_falls_back_to_every_physician(
    api_client, staff, patient, clinic, doctor_email, dr_patel, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from tests.measures.conftest import dosed_session

    dr_patel.user.email = ""
    dr_patel.user.save(update_fields=["email"])
    dosed_session(clinic, patient, dr_patel, timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        open_alert(api_client(staff["nurse"]), patient)
    assert [m.to for m in mail.outbox] == [[doctor_email]]


def test_a_failed_email_is_retried_by_the_worker_until_it_goes(
    api_client, staff, patient, doctor_email, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from ketaclinic.worker import jobs

    def down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    patch_everywhere(monkeypatch, services, "send_mail", down)
    with django_capture_on_commit_callbacks(execute=True):
        alert = open_alert(api_client(staff["nurse"]), patient)
    alert.refresh_from_db()
    assert alert.notified_at is None and mail.outbox == []
    later = timezone.now() + timedelta(minutes=5)
    # Still down: the worker tries, fails, and leaves it for the next pass.
    assert services.notify_unnotified_alerts(later) == 0
    monkeypatch.undo()
    assert (services.notify_unnotified_alerts, 60) in jobs.JOBS
    assert services.notify_unnotified_alerts(later) == 1
    assert mail.outbox[-1].to == [doctor_email]
    assert f"Alert {alert.pk}: Suicidality (urgent)" in mail.outbox[-1].body
    alert.refresh_from_db()
    assert alert.notified_at is not None
    # Sent once: the next pass has nothing to do.
    assert services.notify_unnotified_alerts(later + timedelta(minutes=1)) == 0
    assert len(mail.outbox) == 1
    event = AuditEvent.objects.get(action="measures.alert_notify")
    assert event.detail["alerts"] == [alert.pk]


def test_the_worker_does_not_email_a_resolved_alert(api_client, staff, patient, doctor_email):
    from datetime import timedelta

    from django.utils import timezone

    alert = open_alert(api_client(staff["nurse"]), patient)  # on_commit never ran here
    post(
        api_client(staff["physician"]), f"/api/v1/alerts/{alert.pk}/resolve", {"action": "referral"}
    )
    assert services.notify_unnotified_alerts(timezone.now() + timedelta(minutes=5)) == 0
    assert mail.outbox == []
