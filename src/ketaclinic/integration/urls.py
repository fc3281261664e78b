from django.urls import path

from ketaclinic.integration import views

urlpatterns = [
    path("integration/", views.workspace, name="integration_home"),
    path(
        "integration/patients/<int:patient_id>/", views.patient_timeline, name="integration_patient"
    ),
    path(
        "integration/patients/<int:patient_id>/notes/new/",
        views.progress_note_new,
        name="integration_note_new",
    ),
    path("integration/notes/<int:note_id>/", views.progress_note, name="integration_note"),
    path(
        "integration/patients/<int:patient_id>/private/new/",
        views.private_note_new,
        name="integration_private_new",
    ),
    path("integration/private/<int:note_id>/", views.private_note, name="integration_private_note"),
    path("integration/patients/<int:patient_id>/plan/", views.plan_edit, name="integration_plan"),
    path(
        "integration/patients/<int:patient_id>/homework/",
        views.homework_add,
        name="integration_homework_add",
    ),
    path(
        "integration/homework/<int:homework_id>/done/",
        views.homework_done,
        name="integration_homework_done",
    ),
    path("integration/goals/<int:goal_id>/rate/", views.goal_rate, name="integration_goal_rate"),
    path(
        "integration/sessions/<int:appointment_id>/format/",
        views.session_format,
        name="integration_session_format",
    ),
    path("integration/circles/", views.circle_list, name="integration_circles"),
    path("integration/circles/<int:circle_id>/", views.circle_detail, name="integration_circle"),
]
