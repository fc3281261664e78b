"""Two workers against one PostgreSQL behave as one: each alert e-mail goes once, seals stay whole.

Each "worker" is a thread with its own database connection running the worker's jobs,
as two `python -m ketaclinic worker` processes on two machines would.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent, AuditSeal
from ketaclinic.audit.services import seal_pending, unsealed_chains, verify
from ketaclinic.measures import services
from ketaclinic.measures.models import Alert
from ketaclinic.patients.models import Patient
from tests.measures.conftest import PHQ9_URL, post
from tests.measures.test_alerts import ITEM9
from tests.patching import patch_everywhere

pytestmark = pytest.mark.django_db(transaction=True)


def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("two workers share a PostgreSQL (SQLite serves one host)")


def _two_workers(job, passes: int = 3) -> list[BaseException]:
    errors: list[BaseException] = []

    def loop():
        try:
            for _ in range(passes):
                job()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=loop) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    return errors


def test_two_workers_send_each_alert_email_once(api_client, staff, clinic, monkeypatch):
    _postgres_only()
    physician = staff["physician"].user
    physician.email = "chen@harbor.example"
    physician.save(update_fields=["email"])

    def down(**kwargs):
        raise ConnectionRefusedError("mail server down when the alerts opened")

    patch_everywhere(monkeypatch, services, "send_mail", down)
    nurse = api_client(staff["nurse"])
    for n in range(6):
        patient = Patient.objects.create(
            clinic=clinic,
            mrn=f"S{n}",
            given_name="Pat",
            family_name=f"Scale{n}",
            birth_date=date(1980, 1, 1),
            sex_at_birth="female",
        )
        assert (
            post(
                nurse, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": ITEM9}
            ).status_code
            == 201
        )
    assert Alert.objects.filter(notified_at__isnull=True).count() == 6
    sent: list[str] = []

    def slow_mail(*, subject, message, from_email, recipient_list):
        time.sleep(0.2)  # a real mail server takes a while: the other worker gets its turn
        sent.append(subject)
        return 1

    patch_everywhere(monkeypatch, services, "send_mail", slow_mail)
    later = timezone.now() + timedelta(minutes=5)
    assert _two_workers(lambda: services.notify_unnotified_alerts(later)) == []
    assert len(sent) == 6
    assert len(set(sent)) == 6  # one e-mail per patient, none twice
    assert Alert.objects.filter(notified_at__isnull=True).count() == 0


def test_two_workers_seal_every_event_once_and_the_chain_stays_whole(login, staff, patient):
    _postgres_only()

    def views_then_seal():
        client = login(staff["nurse"])  # each worker thread its own browser
        for _ in range(5):
            client.get(f"/patients/{patient.pk}/")
        seal_pending()

    assert _two_workers(views_then_seal) == []
    seal_pending()
    assert unsealed_chains() == []
    sealed = sum(AuditSeal.objects.values_list("count", flat=True))
    assert sealed == AuditEvent.objects.count()
    assert verify() == []
