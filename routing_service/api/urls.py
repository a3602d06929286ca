"""/api/v1/ routes."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

urlpatterns: list = []
router = DefaultRouter(trailing_slash=True)
urlpatterns += router.urls
