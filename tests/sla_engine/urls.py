"""The REST API plus /api/v1/metrics/daily/, until routing_service/api/urls.py routes it."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from routing_service.api.metrics import DailyMetricsView

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/metrics/daily/", DailyMetricsView.as_view(), name="api-metrics-daily"),
    path("api/v1/", include("routing_service.api.urls")),
]
