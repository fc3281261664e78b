from django.core.management.base import BaseCommand, CommandError

from ketaclinic.accounts.models import ApiToken


class Command(BaseCommand):
    help = "Revoke an API token by its id."

    def add_arguments(self, parser):
        parser.add_argument("token_id", type=int)

    def handle(self, *args, token_id, **options):
        token = ApiToken.objects.filter(pk=token_id).first()
        if token is None:
            raise CommandError(f"no token {token_id}")
        token.revoke()
        self.stdout.write(f"token {token_id} revoked")
