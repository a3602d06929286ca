from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "routing_service.api"
    label = "api"
    verbose_name = "REST API"
