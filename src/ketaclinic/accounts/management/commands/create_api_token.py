from django.core.management.base import BaseCommand, CommandError

from ketaclinic.accounts.models import ApiToken, Membership


class Command(BaseCommand):
    help = "Issue an API token; prints the token alone on the last line (only its hash is kept)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to recognise the token by")
        parser.add_argument("--clinic", help="clinic slug, when the user belongs to several")

    def handle(self, *args, username, name, clinic, **options):
        memberships = Membership.objects.active().filter(user__username=username)
        if clinic:
            memberships = memberships.filter(clinic__slug=clinic)
        found = list(memberships.select_related("clinic")[:2])
        if not found:
            raise CommandError(f"{username!r} has no active membership{' there' if clinic else ''}")
        if len(found) > 1:
            raise CommandError(f"{username!r} belongs to several clinics: name one with --clinic")
        token, raw = ApiToken.issue(found[0], name=name)
        self.stdout.write(f"token {token.pk} for {username} at {found[0].clinic.slug}")
        self.stdout.write(raw)
