from django.core.management.base import BaseCommand

from ketaclinic.accounts.models import ApiToken


class Command(BaseCommand):
    help = "List API tokens (id, user, clinic, label, state); never the secrets."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="only this username")

    def handle(self, *args, user, **options):
        tokens = ApiToken.objects.select_related("membership__user", "membership__clinic")
        if user:
            tokens = tokens.filter(membership__user__username=user)
        for t in tokens.order_by("pk"):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            self.stdout.write(
                f"{t.pk}\t{t.membership.user.username}\t{t.membership.clinic.slug}\t"
                f"{t.hint}…\t{t.name}\t{state}"
            )
