from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "ketaclinic.integration"
    label = "integration"

    def ready(self) -> None:
        # Scheduling calls these inside its booking transactions (scheduling/hooks.py).
        from ketaclinic.integration import chart, circles, planning, replanning
        from ketaclinic.patients import chart as patient_chart
        from ketaclinic.scheduling import hooks

        patient_chart.register("integration", chart.chart_section)

        if planning.on_course_booked not in hooks.COURSE_BOOKED:
            hooks.COURSE_BOOKED.append(planning.on_course_booked)
            hooks.APPOINTMENT_MOVED.append(planning.on_appointment_moved)
            hooks.EXTRA_CONFLICTS.append(circles.circle_conflicts)
            hooks.APPOINTMENTS_DROPPED.append(replanning.on_appointments_dropped)
