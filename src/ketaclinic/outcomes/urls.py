from django.urls import path

from ketaclinic.outcomes import views

urlpatterns = [
    path("outcomes/", views.dashboard, name="outcomes_dashboard"),
    path("outcomes/patients/", views.patients, name="outcomes_patients"),
    path("outcomes/export/<str:table>/", views.export, name="outcomes_export"),
    path("outcomes/publish/", views.publish, name="outcomes_publish"),
    path("outcomes/published/", views.published, name="outcomes_published"),
    path("outcomes/published/<slug:slug>/", views.published, name="outcomes_published_clinic"),
]
