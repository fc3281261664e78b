"""Health endpoints for the load balancer, and logs as JSON lines without patient data."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.audit.models import Heartbeat
from ketaclinic.audit.services import beat
from ketaclinic.logjson import JsonFormatter


def test_healthz_answers_without_a_database_or_a_login(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_needs_the_database_and_a_recent_worker_pass(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "worker": "no worker has run yet",
    }
    beat("worker")
    response = client.get("/readyz")
    assert (response.status_code, response.json()["status"]) == (200, "ok")
    Heartbeat.objects.filter(name="worker").update(at=timezone.now() - timedelta(minutes=5))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["worker"].startswith("last pass 30")


@pytest.mark.django_db
def test_the_worker_beats_after_each_pass(settings, tmp_path):
    from django.core.management import call_command

    settings.DEBUG = True  # the worker refuses production settings with the development key
    settings.BACKUP_DIR = ""  # the daily backup is tested on its own (test_backup.py)

    call_command("worker", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Heartbeat.objects.filter(name="worker").exists()
    assert Heartbeat.objects.filter(name="seal").exists()


def test_log_lines_are_json_with_the_exception_type_but_not_its_text():
    try:
        raise ValueError("Maria Garcia")  # what an exception's text might carry
    except ValueError:
        record = logging.LogRecord(
            "ketaclinic.worker", logging.ERROR, __file__, 1, "job %s failed", ("seal",), True
        )
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "job seal failed"
    assert (entry["level"], entry["logger"], entry["exception"]) == (
        "ERROR",
        "ketaclinic.worker",
        "ValueError",
    )
    assert "Maria" not in line
