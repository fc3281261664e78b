from django.core.management.base import BaseCommand, CommandError

from ketaclinic.inventory.models import LedgerEntry
from ketaclinic.inventory.services import verify_ledger


class Command(BaseCommand):
    help = (
        "Check every controlled-substance ledger entry (hash chain, quantities, every running "
        "balance recomputed); exits non-zero naming the first bad entry."
    )

    def handle(self, *args, **options):
        problems = verify_ledger()
        if problems:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError(f"drug ledger does not prove itself: first problem at {problems[0]}")
        self.stdout.write(
            f"{LedgerEntry.objects.count()} ledger entries intact, balances recomputed"
        )
