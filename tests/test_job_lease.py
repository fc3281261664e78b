"""Job leases: with two workers each job runs in one of them; a stopped worker hands over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from ketaclinic.worker import lease
from ketaclinic.worker.models import JobLease

pytestmark = pytest.mark.django_db


def test_one_worker_holds_a_job_until_it_stops_or_its_lease_runs_out():
    assert lease.claim("send_due_reminders", "host-a:1:x")
    assert not lease.claim("send_due_reminders", "host-b:2:y")  # the other worker skips it
    assert lease.claim("send_due_reminders", "host-a:1:x")  # the holder renews
    JobLease.objects.update(until=timezone.now() - timedelta(seconds=1))  # host-a died
    assert lease.claim("send_due_reminders", "host-b:2:y")
    assert not lease.claim("send_due_reminders", "host-a:1:x")
    lease.release("send_due_reminders", "host-b:2:y")  # stopped cleanly: handed over at once
    assert lease.claim("send_due_reminders", "host-a:1:x")


def test_long_jobs_keep_their_lease_longer():
    assert lease.lease_seconds("daily_backup") > lease.lease_seconds("seal_audit")


def test_a_worker_run_once_hands_its_leases_back(settings, tmp_path):
    settings.DEBUG = True
    settings.BACKUP_DIR = ""
    call_command("worker", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115
    # Another worker (another process) may take every job at once.
    assert all(lease.claim(name, "host-b:2:y") for name in lease.holders())
    assert "seal_audit" in lease.holders()
