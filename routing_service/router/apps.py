from django.apps import AppConfig


class RouterConfig(AppConfig):
    name = "routing_service.router"
    label = "router"
    verbose_name = "Routing"
