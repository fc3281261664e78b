from django.urls import path

from ketaclinic.measures import views

urlpatterns = [
    path("measures/patients/<int:patient_id>/enter/", views.measure_entry, name="measure_entry"),
    path(
        "measures/patients/<int:patient_id>/chart/<slug:code>.svg",
        views.trend_chart,
        name="measure_trend_chart",
    ),
    path("measures/patients/<int:patient_id>/send/", views.send_link, name="measure_send"),
    path(
        "measures/patients/<int:patient_id>/schedules/",
        views.schedule_add,
        name="measure_schedule_add",
    ),
    path(
        "measures/schedules/<int:schedule_id>/stop/",
        views.schedule_stop,
        name="measure_schedule_stop",
    ),
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/<int:alert_id>/resolve/", views.alert_resolve, name="alert_resolve"),
    # Public: the patient's questionnaire link (the token is the key; no login).
    path("q/<str:token>/", views.questionnaire_link, name="questionnaire_link"),
]
