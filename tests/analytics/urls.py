"""Just the analytics API under /api/v1/, as `routing_service/api/urls.py` wires it through
`analytics.api_urls`: these tests then neither wait for that wiring nor depend on the pages."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import DefaultRouter

from analytics import api_urls

router = DefaultRouter(trailing_slash=True)
api_urls.register(router)

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/", include([*api_urls.urlpatterns, *router.urls])),
]

handler404 = "routing_service.views.json_404"
handler500 = "routing_service.views.json_500"
