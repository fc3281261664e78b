"""The background worker that `make run` starts beside the server."""

import time

from django.core.management.base import BaseCommand

from ketaclinic.audit.services import seal_pending


class Command(BaseCommand):
    help = "Run background work: seal audit events every few seconds."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=2.0)

    def handle(self, *args, every: float, **options):
        self.stdout.write("worker started")
        while True:
            seal_pending()
            time.sleep(every)
