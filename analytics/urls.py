"""``/analytics/`` pages (namespace ``analytics``), included by ``routing_service/urls.py``.

``sessions/export.csv`` is the API's own export view (``analytics.api.SessionExportView``,
session-authenticated; see ``views.SessionExportPage``): the search page links to it with its
filters, so a page and its download always agree.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from analytics import views

app_name = "analytics"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("dashboards/", views.dashboard_list, name="dashboards"),
    path("dashboards/new/", views.dashboard_edit, name="dashboard-create"),
    path("dashboards/<int:pk>/", views.dashboard_detail, name="dashboard"),
    path("dashboards/<int:pk>/edit/", views.dashboard_edit, name="dashboard-edit"),
    path("dashboards/<int:pk>/delete/", views.dashboard_delete, name="dashboard-delete"),
    path("data-sources/", views.data_sources, name="data-sources"),
    path("data-sources/<int:pk>/", views.data_source_detail, name="data-source"),
    path("sessions/", views.session_search, name="sessions"),
    path("sessions/export.csv", views.SessionExportPage.as_view(), name="sessions-export"),
    path("sessions/<int:pk>/", views.session_detail, name="session"),
]
