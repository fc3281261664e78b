from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ketaclinic.worker.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Restore a backup into a new, empty database, then verify the audit log (against the "
        "backup's anchor) and the drug ledger; the restore is recorded in the live anchor."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--anchor-out",
            type=Path,
            help="where to keep the backup's audit anchor (default: beside the live one)",
        )

    def handle(self, *args, file: Path, anchor_out: Path | None, **options):
        if anchor_out is None:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            anchor_out = Path(settings.AUDIT_ANCHOR).with_name(f"restored-anchor-{stamp}.log")
        try:
            restored = restore(file, anchor_out)
        except BackupError as exc:
            raise CommandError(f"restore refused: {exc}") from None
        self.stdout.write(
            f"restored the backup of {restored.manifest['created_at']}: audit log and drug "
            f"ledger verified (the backup's anchor is kept at {restored.anchor})"
        )
