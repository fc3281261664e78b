from django.core.management.base import BaseCommand

from ketaclinic.demo.management.commands.seed_demo import (
    CLINIC_SLUG,
    DEMO_PASSWORD,
    OTHER_CLINIC_USER,
    STAFF,
)


class Command(BaseCommand):
    help = "Print the demo clinic's log-ins."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")

    def handle(self, *args, port, **options):
        self.stdout.write(
            f"\nketaclinic demo: http://127.0.0.1:{port}/  (password for every account: {DEMO_PASSWORD})"
        )
        for username, role, first, last in STAFF:
            self.stdout.write(
                f"  {username:<18} {role:<11} {first} {last} — Harbor Light Ketamine Clinic"
            )
        from ketaclinic.accounts.models import Clinic
        from ketaclinic.portal.demo import login_line

        harbor = Clinic.objects.filter(slug=CLINIC_SLUG).first()
        line = login_line(harbor) if harbor else None
        if line:
            self.stdout.write(line)
        # The public website's editor (website/demo.py); the site itself is at /, staff at /home/.
        self.stdout.write(
            f"  {'editor':<18} {'editor':<11} Robin Hale — the public website (/cms/, comments)"
        )
        username, role, first, last = OTHER_CLINIC_USER
        self.stdout.write(
            f"  {username:<18} {role:<11} {first} {last} — Northside (another clinic)\n"
        )
