from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "routing_service.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy and accounts"
