"""The background worker that `make run` starts beside the server."""

import logging
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils import timezone

from ketaclinic.audit.services import beat
from ketaclinic.worker import jobs

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run background work: seal audit events, send questionnaires and reminders."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=2.0, help="seconds between passes")
        parser.add_argument("--once", action="store_true", help="run every job once and stop")

    def handle(self, *args, every: float, once: bool, **options):
        from ketaclinic.checks import refuse_unsafe_production

        refuse_unsafe_production()  # the worker is what sends (or would log) the e-mails
        self.stdout.write("worker started")
        last_run: dict[str, float] = {}
        while True:
            for job, interval in jobs.JOBS:
                name = job.__name__
                if not once and time.monotonic() - last_run.get(name, -1e9) < interval:
                    continue
                last_run[name] = time.monotonic()
                try:
                    job(timezone.now())
                except Exception as exc:  # noqa: BLE001 - one failed job must not stop the others
                    # The job's name and the error's type only: messages may carry patient data.
                    log.error("worker: %s failed (%s); retrying later", name, type(exc).__name__)
            try:
                beat("worker")  # /readyz reads it
            except DatabaseError as exc:
                log.error("worker: heartbeat failed (%s)", type(exc).__name__)
            if once:
                return
            time.sleep(every)
