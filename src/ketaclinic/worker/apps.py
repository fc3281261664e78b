from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "ketaclinic.worker"
    label = "worker"
