"""The background worker that `make run` starts beside the server."""

import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils import timezone

from ketaclinic.audit.services import beat
from ketaclinic.worker import jobs, lease

log = logging.getLogger(__name__)


def _stop(signum, frame):
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Run background work: seal audit events, send questionnaires and reminders."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=2.0, help="seconds between passes")
        parser.add_argument("--once", action="store_true", help="run every job once and stop")

    def handle(self, *args, every: float, once: bool, **options):
        from ketaclinic.checks import refuse_unsafe_production

        refuse_unsafe_production()  # the worker is what sends (or would log) the e-mails
        self.stdout.write("worker started")
        # Stopped (systemd sends SIGTERM) or done with --once: hand every job's lease over
        # at once, so another worker takes over without waiting for the leases to run out.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _stop)
        try:
            self.loop(every=every, once=once)
        finally:
            for job, _interval in jobs.JOBS:
                try:
                    lease.release(job.__name__)
                except DatabaseError:
                    pass  # the database is gone too: the leases simply run out

    def loop(self, *, every: float, once: bool) -> None:
        last_run: dict[str, float] = {}
        while True:
            for job, interval in jobs.JOBS:
                name = job.__name__
                if not once and time.monotonic() - last_run.get(name, -1e9) < interval:
                    continue
                last_run[name] = time.monotonic()
                try:
                    # Several workers: only the holder of this job's lease runs it.
                    if not lease.claim(name):
                        continue
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
