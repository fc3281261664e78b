from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "ketaclinic.interop"
    label = "interop"
    verbose_name = "FHIR R4 API and Bulk Data export"
