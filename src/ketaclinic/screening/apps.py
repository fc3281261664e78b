from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "ketaclinic.screening"
    label = "screening"

    def ready(self) -> None:
        # Measures asks this app through measures/hooks.py; the chart shows its section.
        from ketaclinic.patients import chart as patient_chart
        from ketaclinic.screening import chart, providers

        providers.register()
        patient_chart.register("screening", chart.chart_section)
