"""The project's routes plus the analytics API, as `routing_service/api/urls.py` will wire it
(`analytics.api_urls`): lets these tests run before and after that wiring lands."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import DefaultRouter

from analytics import api_urls
from routing_service import urls as project_urls

router = DefaultRouter(trailing_slash=True)
api_urls.register(router)

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/v1/", include([*api_urls.urlpatterns, *router.urls])),
    *project_urls.urlpatterns,
]

handler404 = project_urls.handler404
handler500 = project_urls.handler500
