from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "ketaclinic.demo"
    label = "demo"
