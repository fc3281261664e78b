"""Two app servers and two workers against one PostgreSQL behave as one (issue #14).

Real processes, as on two machines: two granian servers and two `ketaclinic worker`
processes share the test database. Traffic goes through both servers while both workers
run; afterwards every reminder and every alert e-mail went exactly once, every audit event
is sealed in one unbroken chain, a session made on one server works on the other, and when
the worker holding the jobs stops the other takes them over at once.

PostgreSQL only (DATABASE_URL=postgres://...): SQLite serves a single host. About 20 s.
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.utils import timezone

from ketaclinic.accounts.models import ApiToken
from ketaclinic.audit.models import AuditEvent, AuditSeal
from ketaclinic.audit.services import unsealed_chains, verify
from ketaclinic.measures import services as measures
from ketaclinic.measures.models import Alert
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, Room
from ketaclinic.worker.models import JobLease
from tests.conftest import PASSWORD
from tests.measures.conftest import PHQ9_URL, post
from tests.measures.test_alerts import ITEM9
from tests.patching import patch_everywhere

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="two servers and two workers share a PostgreSQL (SQLite serves one host)",
    ),
]

PORTS = (8170, 8171)
REMINDERS = 12
ALERTS = 4


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _env(mail_dir: Path, anchor: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url(),
        KETACLINIC_DEBUG="1",
        KETACLINIC_EMAIL_URL=f"file://{mail_dir}",
        KETACLINIC_AUDIT_ANCHOR=str(anchor),
        KETACLINIC_BASE_URL=f"http://127.0.0.1:{PORTS[0]}",
        PYTHONUNBUFFERED="1",
    )
    env.pop("KETACLINIC_CACHE_URL", None)  # the database cache, shared by both servers
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        args, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _wait_for(check, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _messages(mail_dir: Path) -> list[email.message.Message]:
    found = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                found.append(email.message_from_string(chunk.strip()))
    return found


@pytest.fixture
def traffic_data(clinic, staff, api_client, monkeypatch, settings):
    """Reminders due, alerts whose e-mail failed (so the workers retry them), an API token."""
    # The servers check passwords with the production hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    staff["nurse"].user.set_password(PASSWORD)
    staff["nurse"].user.save(update_fields=["password"])
    physician = staff["physician"].user
    physician.email = "chen@harbor.example"
    physician.save(update_fields=["email"])
    room = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair")
    start = timezone.now() + timedelta(hours=20)
    for n in range(REMINDERS):
        patient = Patient.objects.create(
            clinic=clinic,
            mrn=f"R{n:03d}",
            given_name="Pat",
            family_name=f"Remind{n}",
            birth_date=date(1980, 1, 1),
            sex_at_birth="female",
            email=f"remind{n}@example.org",
        )
        begin = start + timedelta(minutes=10 * n)
        Appointment.objects.create(
            clinic=clinic,
            patient=patient,
            room=room,
            kind="treatment",
            start=begin,
            end=begin + timedelta(minutes=10),
        )

    def down(**kwargs):
        raise ConnectionRefusedError("mail server down when the alerts opened")

    patch_everywhere(monkeypatch, measures, "send_mail", down)
    nurse = api_client(staff["nurse"])
    for n in range(ALERTS):
        patient = Patient.objects.create(
            clinic=clinic,
            mrn=f"A{n:03d}",
            given_name="Pat",
            family_name=f"Alert{n}",
            birth_date=date(1980, 1, 1),
            sex_at_birth="female",
        )
        response = post(
            nurse, PHQ9_URL.format(patient.pk), {"instrument": "phq9", "answers": ITEM9}
        )
        assert response.status_code == 201
    # Opened a while ago: due for the workers' retry right away.
    Alert.objects.update(opened_at=timezone.now() - timedelta(minutes=10))
    assert Alert.objects.filter(notified_at__isnull=True).count() == ALERTS
    _, token = ApiToken.issue(staff["physician"], name="scale-out")
    return token


def test_two_servers_and_two_workers_on_postgresql_behave_as_one(
    traffic_data, staff, tmp_path, audit_anchor
):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = _env(mail_dir, audit_anchor)
    bin_dir = Path(sys.executable).parent
    servers = [
        _start(
            [
                str(bin_dir / "granian"),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--blocking-threads",
                "4",
                "ketaclinic.wsgi:application",
            ],
            env,
            tmp_path / f"server-{port}.log",
        )
        for port in PORTS
    ]
    workers = [
        _start(
            [sys.executable, "-m", "ketaclinic", "worker", "--every", "0.2"],
            env,
            tmp_path / f"worker-{n}.log",
        )
        for n in (1, 2)
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in PORTS]

        def up() -> bool:
            try:
                return all(requests.get(f"{u}/healthz", timeout=2).status_code == 200 for u in urls)
            except requests.RequestException:
                return False

        _wait_for(up, 30, "both servers")
        headers = {"Authorization": f"Bearer {traffic_data}"}
        patients = list(Patient.objects.values_list("pk", flat=True))
        # Traffic through both servers while both workers seal: each read is an audit event.
        for n, pk in enumerate(patients * 2):
            response = requests.get(
                f"{urls[n % 2]}/api/v1/patients/{pk}", headers=headers, timeout=10
            )
            assert response.status_code == 200

        # A session opened on one server works on the other (sessions live in the database).
        browser = requests.Session()
        browser.get(f"{urls[0]}/login/", timeout=10)
        login = browser.post(
            f"{urls[0]}/login/",
            data={
                "username": staff["nurse"].user.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": f"{urls[0]}/login/"},
            allow_redirects=False,
            timeout=10,
        )
        assert login.status_code == 302
        other = browser.get(f"{urls[1]}/patients/", allow_redirects=False, timeout=10)
        assert other.status_code == 200 and "Remind0" in other.text

        def done() -> bool:
            return (
                not Appointment.objects.filter(reminded_at__isnull=True).exists()
                and not Alert.objects.filter(notified_at__isnull=True).exists()
                and not unsealed_chains()
            )

        _wait_for(done, 40, "reminders, alerts and seals")
        # Each job ran in one worker at a time: its lease names one holder.
        assert JobLease.objects.filter(name="seal_audit").count() == 1

        # The worker holding the jobs stops; the other takes them over at once.
        holder = JobLease.objects.get(name="seal_audit").holder
        pid = int(holder.split(":")[1])
        stopping = next(w for w in workers if w.pid == pid)
        _stop(stopping)
        before = AuditEvent.objects.count()
        for pk in patients[:5]:
            reply = requests.get(f"{urls[1]}/api/v1/patients/{pk}", headers=headers, timeout=10)
            assert reply.status_code == 200
        # The servers journal their events (audit/journal.py); the remaining worker drains them.
        _wait_for(lambda: AuditEvent.objects.count() >= before + 5, 20, "the reads' events")
        _wait_for(lambda: not unsealed_chains(), 20, "the takeover")
        assert JobLease.objects.get(name="seal_audit").holder != holder
    finally:
        for proc in servers + workers:
            _stop(proc)

    messages = _messages(mail_dir)
    reminders = Counter(m["To"] for m in messages if m["Subject"].startswith("Your appointment"))
    assert reminders == {f"remind{n}@example.org": 1 for n in range(REMINDERS)}
    alerts = Counter(m["Subject"] for m in messages if m["Subject"].startswith("[ketaclinic]"))
    assert len(alerts) == ALERTS and set(alerts.values()) == {1}  # one per patient, none twice
    inventory = [m for m in messages if "inventory due" in m["Subject"]]
    assert len(inventory) == 1  # the clinic's inventory reminder, once
    assert verify(audit_anchor) == []
    seqs = sorted(
        AuditSeal.objects.filter(chain=staff["nurse"].clinic_id).values_list("seq", flat=True)
    )
    assert seqs == list(range(1, len(seqs) + 1))
