from django.core.management.base import BaseCommand

from ketaclinic.audit import journal
from ketaclinic.audit.services import seal_pending


class Command(BaseCommand):
    help = "Seal new audit events into hash-chained batches (one pass; the worker does this every few seconds)."

    def handle(self, *args, **options):
        journal.drain(wait=True)  # journaled events first (audit/journal.py)
        self.stdout.write(f"sealed {seal_pending()} event(s)")
