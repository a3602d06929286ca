"""The project's routes plus /api/v1/metrics/daily/, until routing_service/api/urls.py has it."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from routing_service.api.metrics import DailyMetricsView
from routing_service.urls import urlpatterns as project_urlpatterns

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/metrics/daily/", DailyMetricsView.as_view(), name="api-metrics-daily"),
    *project_urlpatterns,
]
