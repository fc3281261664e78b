from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ketaclinic.accounts.models import Clinic
from ketaclinic.accounts.roles import STAFF_ROLES
from ketaclinic.accounts.services import add_staff


class Command(BaseCommand):
    help = "Create a staff user, or add a membership to an existing one."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--clinic", required=True, help="clinic slug")
        parser.add_argument("--role", required=True, choices=[r.value for r in STAFF_ROLES])
        parser.add_argument(
            "--password",
            help="sets (or resets) the password; omit to keep the current one (or none)",
        )
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--email", default="")

    def handle(self, *args, **opts):
        clinic = Clinic.objects.filter(slug=opts["clinic"]).first()
        if clinic is None:
            raise CommandError(f"--clinic: no clinic with slug {opts['clinic']!r}")
        try:
            membership = add_staff(
                username=opts["username"],
                clinic=clinic,
                role=opts["role"],
                password=opts["password"],
                first_name=opts["first_name"],
                last_name=opts["last_name"],
                email=opts["email"],
                reset_password=True,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"{membership.user.username}: {membership.role} at {clinic.slug}")
