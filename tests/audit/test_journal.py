"""Audit events through the local journal: on disk before the answer, in the database after a drain.

Production journals every event (audit/journal.py); the rest of the suite writes them
synchronously (tests/conftest.py). These tests turn the journal on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import ApiToken
from ketaclinic.audit import journal
from ketaclinic.audit.models import AuditChain, AuditEvent
from ketaclinic.audit.services import record, seal_pending, verify

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def journal_dir(settings, tmp_path) -> Path:
    settings.AUDIT_JOURNAL = True
    settings.AUDIT_JOURNAL_DIR = tmp_path / "journal"
    return settings.AUDIT_JOURNAL_DIR


def _lines(folder: Path) -> list[dict]:
    return [json.loads(line) for path in journal.pending_files(folder) for line in path.open()]


def test_a_read_is_on_disk_at_once_and_in_the_database_after_the_drain(
    journal_dir, login, staff, patient
):
    response = login(staff["nurse"]).get(f"/patients/{patient.pk}/")

    assert response.status_code == 200
    on_disk = [line for line in _lines(journal_dir) if line["patient_id"] == patient.pk]
    assert [line["action"] for line in on_disk] == ["view"]
    assert on_disk[0]["username"] == "okafor"
    assert not AuditEvent.objects.filter(patient_id=patient.pk).exists()

    assert journal.drain() >= 1
    event = AuditEvent.objects.get(patient_id=patient.pk)
    assert str(event.event_id) == on_disk[0]["event_id"]
    assert (event.action, event.role, event.user_id) == ("view", "nurse", staff["nurse"].user_id)
    assert event.seq is not None
    assert AuditChain.objects.get(chain=patient.clinic_id).seq == event.seq
    seal_pending()
    assert verify() == []


def test_draining_twice_stores_each_event_once(journal_dir, staff, patient):
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    for _ in range(3):
        record(actor, "view", patient_id=patient.pk, obj=patient)
    folder_files = journal.pending_files(journal_dir)
    assert len(folder_files) == 1

    assert journal.drain() == 3
    # The drained offset is lost (a worker killed after its commit): the lines come again.
    for leftover in journal_dir.glob("*.drained"):
        leftover.unlink()
    journal.drain()

    assert AuditEvent.objects.filter(patient_id=patient.pk).count() == 3
    assert list(
        AuditEvent.objects.filter(patient_id=patient.pk)
        .order_by("seq")
        .values_list("seq", flat=True)
    ) == [1, 2, 3]


def test_an_event_inside_a_refused_write_is_never_journaled(journal_dir, staff, patient):
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])

    with pytest.raises(RuntimeError), transaction.atomic():
        record(actor, "update", patient_id=patient.pk, obj=patient)
        raise RuntimeError("the write was refused")

    assert _lines(journal_dir) == []
    with transaction.atomic():
        record(actor, "update", patient_id=patient.pk, obj=patient)
    assert [line["action"] for line in _lines(journal_dir)] == ["update"]


def test_a_line_altered_in_the_journal_fails_verification(journal_dir, staff, patient):
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    record(actor, "view", patient_id=patient.pk, obj=patient)
    (path,) = journal.pending_files(journal_dir)
    path.write_text(path.read_text().replace('"okafor"', '"someone"'))

    journal.drain()

    problems = verify()
    assert problems and "altered" in str(problems[0])


def test_a_file_whose_writer_is_gone_is_deleted_once_drained(journal_dir, staff, patient):
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    record(actor, "view", patient_id=patient.pk, obj=patient)
    journal._journal().close()  # as at the process's exit: its lock is released

    journal.drain()

    assert journal.pending_files(journal_dir) == []
    assert AuditEvent.objects.filter(patient_id=patient.pk).count() == 1


def test_threads_share_fsyncs_and_lose_no_event(journal_dir, staff, patient):
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])

    def read_many():
        for _ in range(50):
            record(actor, "view", patient_id=patient.pk, obj=patient)

    threads = [threading.Thread(target=read_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(_lines(journal_dir)) == 400
    journal.drain()
    assert AuditEvent.objects.filter(patient_id=patient.pk).count() == 400


def test_an_event_committed_under_a_lock_is_flushed_after_the_lock_is_let_go(
    journal_dir, staff, patient, monkeypatch
):
    """The vitals path on SQLite holds its writer lock across the commit; the event's fsync
    waits until the lock is released, and before the caller goes on."""
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    writer = threading.Lock()
    flushed_holding: list[bool] = []
    real = os.fdatasync
    monkeypatch.setattr(
        os, "fdatasync", lambda fd: (flushed_holding.append(writer.locked()), real(fd))
    )

    with journal.on_disk_at_exit():
        with writer, transaction.atomic():
            record(actor, "view", patient_id=patient.pk, obj=patient)
        assert flushed_holding == []  # written, not yet waited for
    assert flushed_holding == [False]
    assert [line["patient_id"] for line in _lines(journal_dir)] == [patient.pk]

    record(actor, "view", patient_id=patient.pk, obj=patient)  # outside: flushed at once
    assert flushed_holding == [False, False]


def _database_url() -> str:
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    auth = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    return f"postgres://{auth}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"


def _wait_for(port: int) -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not start")


def test_kill_9_under_load_loses_no_acknowledged_read(settings, tmp_path, staff, patient):
    """Every read answered before `kill -9` of the production server is in the verified log."""
    folder = tmp_path / "journal"
    settings.AUDIT_JOURNAL_DIR = folder
    _, token = ApiToken.issue(staff["nurse"], name="load")
    port = 8140 + (os.getpid() % 10)
    venv_bin = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(venv_bin / "granian"), "--interface", "wsgi", "--host", "127.0.0.1"]
        + ["--port", str(port), "--workers", "2", "--blocking-threads", "8"]
        + ["ketaclinic.wsgi:application"],
        env=os.environ
        | {
            "DATABASE_URL": _database_url(),
            "KETACLINIC_DEBUG": "0",
            "KETACLINIC_SECRET_KEY": "kill-nine-test-0123456789-abcdefghijklmnopqrstuvwxyz",
            "KETACLINIC_BASE_URL": f"http://127.0.0.1:{port}",
            "KETACLINIC_SECURE_SSL_REDIRECT": "0",
            "KETACLINIC_AUDIT_JOURNAL": "1",
            "KETACLINIC_AUDIT_JOURNAL_DIR": str(folder),
            "KETACLINIC_VAR_DIR": str(tmp_path),
            "KETACLINIC_API_REQUESTS_PER_MINUTE": "1000000",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    acknowledged = 0
    lock = threading.Lock()
    stop = threading.Event()

    def read_chart():
        nonlocal acknowledged
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/patients/{patient.pk}",
            headers={"Authorization": f"Bearer {token}"},
        )
        while not stop.is_set():
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                    if response.status == 200:
                        with lock:
                            acknowledged += 1
            except OSError:
                return  # the server is gone

    try:
        _wait_for(port)
        clients = [threading.Thread(target=read_chart) for _ in range(8)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 90  # a loaded machine starts the workers slowly
        while acknowledged < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(server.pid, signal.SIGKILL)  # the whole server: master and both workers
        server.wait(timeout=10)
        with lock:
            answered = acknowledged  # nothing after the kill can be answered
        stop.set()
        for client in clients:
            client.join(15)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)

    assert answered >= 40  # the kill came under load, not before it
    call_command("verify_audit")  # drains the journal first, then verifies; raises on tampering
    assert AuditEvent.objects.filter(patient_id=patient.pk, action="view").count() >= answered
    assert journal.pending_files(folder) == []  # both workers are gone: their files drained


def test_events_left_in_the_journal_raise_the_sealing_warning(journal_dir, staff, patient):
    from datetime import timedelta

    from django.utils import timezone

    from ketaclinic.audit.services import health_warnings

    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    record(actor, "view", patient_id=patient.pk, obj=patient)

    assert not any("have not been sealed" in w for w in health_warnings(timezone.now()))
    later = timezone.now() + timedelta(minutes=6)
    assert any("have not been sealed" in w for w in health_warnings(later))


def test_an_unreadable_line_is_itself_audited_and_the_rest_drained(journal_dir, staff, patient):
    actor = Actor(user=staff["nurse"].user, membership=staff["nurse"])
    record(actor, "view", patient_id=patient.pk, obj=patient)
    (path,) = journal.pending_files(journal_dir)
    with path.open("ab") as handle:
        handle.write(b"{not json\n")
    record(actor, "view", patient_id=patient.pk, obj=patient)

    journal.drain()
    journal.drain()  # the note about the unreadable line was journaled by the first drain

    assert AuditEvent.objects.filter(patient_id=patient.pk).count() == 2
    assert AuditEvent.objects.filter(action="audit_journal_unreadable").count() == 1
