import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ketaclinic.audit import journal, verification
from ketaclinic.audit.services import anchored_heads, chain_heads, health_warnings


class Command(BaseCommand):
    help = (
        "Check the audit log for altered or removed events; exits non-zero on tampering. "
        "Checks what came after the last clean verification unless --full."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            type=Path,
            help="anchor file to check against (a collected off-host copy, or a backup's)",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="re-read every event and seal, not only those after the last clean verification",
        )

    def handle(self, *args, anchor=None, full=False, **options):
        journal.drain(wait=True)  # every journaled event is checked too (audit/journal.py)
        started = time.perf_counter()
        result = verification.verify(anchored_heads(anchor), full=full)
        seconds = time.perf_counter() - started
        if result.problems:
            for problem in result.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"audit log tampered: first problem at {result.problems[0]}")
        self.stdout.write(
            f"{'full' if full else 'incremental'} verification: {result.events:,} event(s) and "
            f"{result.seals:,} seal(s) read in {seconds:.1f} s"
        )
        for chain, (seq, digest) in sorted(chain_heads().items()):
            self.stdout.write(f"chain {chain}: {seq} seals, head {digest}")
        if anchored_heads(anchor) is None:
            self.stdout.write(
                "note: no anchor file, so removal of the newest seals cannot be ruled out"
            )
        for warning in health_warnings():
            self.stdout.write(f"warning: {warning}")
        self.stdout.write("audit log intact")
