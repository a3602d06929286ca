"""Analytics routes for `/api/v1/`, wired in by `routing_service/api/urls.py`:

    from analytics import api_urls as analytics_api

    urlpatterns += analytics_api.urlpatterns  # before router.urls
    analytics_api.register(router)

`export.csv` is a plain path (no trailing slash, as DESIGN.md names it); the router's session
detail route cannot shadow it because its id pattern excludes dots.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import BaseRouter

from analytics.api import DataSourceViewSet, SessionExportView, SessionViewSet

__all__ = ["register", "urlpatterns"]

urlpatterns: list[URLPattern | URLResolver] = [
    path("sessions/export.csv", SessionExportView.as_view(), name="api-sessions-export"),
]


def register(router: BaseRouter) -> None:
    router.register("data-sources", DataSourceViewSet, basename="data-source")
    router.register("sessions", SessionViewSet, basename="session")
