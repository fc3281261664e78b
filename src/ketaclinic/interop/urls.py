"""/fhir/R4/: the operations first, then read and search by resource type."""

from django.urls import path

from ketaclinic.interop import views

urlpatterns = [
    path("metadata", views.metadata, name="fhir_metadata"),
    path("$export", views.export_system, name="fhir_export"),
    path("Patient/$export", views.export_patients, name="fhir_export_patients"),
    path("Group/<str:group_id>/$export", views.export_group, name="fhir_export_group"),
    path("$export-status/<str:job_id>", views.export_status, name="fhir_export_status"),
    path("$export-file/<str:job_id>/<str:name>", views.export_file, name="fhir_export_file"),
    path("<str:resource_type>", views.search, name="fhir_search"),
    path("<str:resource_type>/<str:resource_id>", views.read, name="fhir_read"),
]
