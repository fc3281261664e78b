from django.apps import AppConfig


class MeasuresConfig(AppConfig):
    name = "ketaclinic.measures"
    label = "measures"

    def ready(self) -> None:
        from ketaclinic.measures import chart, checks  # noqa: F401  (checks: the instruments check)
        from ketaclinic.patients import chart as patient_chart

        patient_chart.register("measures", chart.chart_section)
