from pathlib import Path

from django.core.management.base import BaseCommand

from ketaclinic.worker.backup import backup


class Command(BaseCommand):
    help = (
        "Back up the database with the audit anchor and a manifest (rows per table, audit and "
        "ledger heads, checksums) into one file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, required=True, help="the backup file to write")

    def handle(self, *args, out: Path, **options):
        manifest = backup(out)
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"backup written to {out}: {rows} rows in {len(manifest['tables'])} tables"
        )
