from django.apps import AppConfig


class TreatmentConfig(AppConfig):
    name = "ketaclinic.treatment"
    label = "treatment"

    def ready(self) -> None:
        # Scheduling, measures and inventory ask the treatment app through their hooks;
        # the chart shows its section.
        from ketaclinic.patients import chart as patient_chart
        from ketaclinic.treatment import chart, providers

        providers.register()
        patient_chart.register("treatment", chart.chart_section)
