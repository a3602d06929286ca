"""``/chat/dashboard/`` (namespace ``chat-dashboard``), included by ``routing_service/urls.py``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from analytics import views

app_name = "chat-dashboard"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.chat_dashboard_page, name="index"),
    path("metrics.csv", views.metrics_export, name="metrics-export"),
]
