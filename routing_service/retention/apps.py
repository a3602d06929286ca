from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "routing_service.retention"
    label = "retention"
    verbose_name = "Retention"
    default_auto_field = "django.db.models.BigAutoField"
