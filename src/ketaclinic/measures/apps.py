from django.apps import AppConfig


class MeasuresConfig(AppConfig):
    name = "ketaclinic.measures"
    label = "measures"

    def ready(self) -> None:
        from ketaclinic.measures import checks  # noqa: F401  (registers the instruments check)
