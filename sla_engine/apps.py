from django.apps import AppConfig


class SlaEngineConfig(AppConfig):
    name = "sla_engine"
    verbose_name = "SLA engine"
