from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "routing_service.ingest"
    label = "ingest"
    verbose_name = "Webhook ingestion"
