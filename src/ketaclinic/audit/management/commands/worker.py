"""The background worker that `make run` starts beside the server."""

import time

from django.core.management.base import BaseCommand
from django.db import connection

from ketaclinic.audit.services import seal_pending

OPTIMIZE_EVERY = 600  # seconds


class Command(BaseCommand):
    help = "Run background work: seal audit events every few seconds."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=2.0)

    def handle(self, *args, every: float, **options):
        self.stdout.write("worker started")
        last_optimize = 0.0
        while True:
            seal_pending()
            if connection.vendor == "sqlite" and time.monotonic() - last_optimize > OPTIMIZE_EVERY:
                # SQLite plans with table statistics only once ANALYZE has run;
                # without them a name search scans the sort index (bench/patient_search.py).
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA optimize=0x10002")
                last_optimize = time.monotonic()
            time.sleep(every)
