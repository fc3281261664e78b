from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "ketaclinic.scheduling"
    label = "scheduling"

    def ready(self) -> None:
        # Measures asks this app through measures/hooks.py; the chart shows its section.
        from ketaclinic.patients import chart as patient_chart
        from ketaclinic.scheduling import chart, providers

        providers.register()
        patient_chart.register("scheduling", chart.chart_section)
