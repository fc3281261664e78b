from django.core.management.base import BaseCommand, CommandError

from ketaclinic.audit.services import anchored_heads, chain_heads, verify


class Command(BaseCommand):
    help = "Check the audit log for altered or removed events; exits non-zero on tampering."

    def handle(self, *args, **options):
        problems = verify()
        if problems:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError(f"audit log tampered: first problem at {problems[0]}")
        for chain, (seq, digest) in sorted(chain_heads().items()):
            self.stdout.write(f"chain {chain}: {seq} seals, head {digest}")
        if anchored_heads() is None:
            self.stdout.write(
                "note: no anchor file, so removal of the newest seals cannot be ruled out"
            )
        self.stdout.write("audit log intact")
