from django.apps import AppConfig


class WebsiteConfig(AppConfig):
    name = "ketaclinic.website"
    label = "website"

    def ready(self) -> None:
        from ketaclinic.patients import chart as patient_chart
        from ketaclinic.website import chart

        patient_chart.register("website", chart.chart_section)
