from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "routing_service.queues"
    label = "queues"
    verbose_name = "Queues"
