from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "routing_service.outbound"
    label = "outbound"
    verbose_name = "Outbound delivery"
