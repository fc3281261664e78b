from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ketaclinic.accounts"
    label = "accounts"

    def ready(self) -> None:
        from ketaclinic import checks  # noqa: F401  (registers the deploy check)
        from ketaclinic.accounts import signals  # noqa: F401
