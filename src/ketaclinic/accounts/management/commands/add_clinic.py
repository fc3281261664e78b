from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ketaclinic.accounts.services import add_clinic


class Command(BaseCommand):
    help = "Create (or rename) a clinic."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, slug, name, timezone, **options):
        try:
            clinic = add_clinic(slug=slug, name=name, timezone=timezone)
        except ValidationError as exc:
            raise CommandError(f"--timezone: {' '.join(exc.messages)}") from None
        self.stdout.write(f"clinic {clinic.slug}: {clinic.name} ({clinic.timezone})")
