from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "ketaclinic.portal"
    label = "portal"

    def ready(self) -> None:
        # Released session summaries join the patient's documents through the same hook
        # billing's superbills use (one download route, one audit); the chart shows the
        # portal's section (invitation, which summaries the patient sees).
        from ketaclinic.patients import chart as patient_chart
        from ketaclinic.patients import hooks as patient_hooks
        from ketaclinic.portal import summaries

        patient_hooks.PORTAL_DOCUMENTS[summaries.KIND] = summaries.SESSION_SUMMARIES
        patient_chart.register("portal", summaries.chart_section)
