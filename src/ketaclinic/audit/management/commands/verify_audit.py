from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ketaclinic.audit import journal
from ketaclinic.audit.services import anchored_heads, chain_heads, health_warnings, verify


class Command(BaseCommand):
    help = "Check the audit log for altered or removed events; exits non-zero on tampering."

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            type=Path,
            help="anchor file to check against (a collected off-host copy, or a backup's)",
        )

    def handle(self, *args, anchor=None, **options):
        journal.drain(wait=True)  # every journaled event is checked too (audit/journal.py)
        problems = verify(anchor)
        if problems:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError(f"audit log tampered: first problem at {problems[0]}")
        for chain, (seq, digest) in sorted(chain_heads().items()):
            self.stdout.write(f"chain {chain}: {seq} seals, head {digest}")
        if anchored_heads(anchor) is None:
            self.stdout.write(
                "note: no anchor file, so removal of the newest seals cannot be ruled out"
            )
        for warning in health_warnings():
            self.stdout.write(f"warning: {warning}")
        self.stdout.write("audit log intact")
