"""Top-level routes. Webhooks are served by a bare ASGI app (see asgi.py), not by Django."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from realtime import views as realtime_views
from routing_service import views
from routing_service.api import docs
from routing_service.attachments import views as attachment_views
from routing_service.i18n import views as i18n_views
from routing_service.i18n.catalog import LanguageCatalog
from routing_service.observability import health, metrics
from routing_service.tenancy import console_alerts, password_reset, theme

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/theme/", theme.theme, name="theme"),
    path("accounts/console-alerts/", console_alerts.console_alerts, name="console-alerts"),
    # Forgotten passwords (tenancy/password_reset.py): Django's flow and URL names.
    path(
        "accounts/password_reset/",
        password_reset.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        password_reset.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Language and time zone: the switcher (POST, CSRF), the preferences page, and the
    # browser's message catalogue per language (routing_service/i18n/).
    path("i18n/setlang/", i18n_views.set_language, name="set_language"),
    path("accounts/preferences/", i18n_views.preferences, name="preferences"),
    path("jsi18n/<str:language>/", LanguageCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path(
        "attachments/public/<str:token>/",
        attachment_views.attachment_public,
        name="attachment-public",
    ),
    path("attachments/<str:token>/", attachment_views.attachment_file, name="attachment-file"),
    path("console/", realtime_views.console, name="console"),
    path("wallboard/", realtime_views.wallboard, name="wallboard"),
    path("conversations/", include("realtime.monitoring_urls")),
    path("api/v1/", include("routing_service.api.urls")),
    path("analytics/", include("analytics.urls")),
    path("chat/dashboard/", include("analytics.chat_urls")),
    path("api/schema/", docs.SchemaView.as_view(), name="schema"),
    path("api/docs/", docs.SwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "routing_service.views.json_404"
handler500 = "routing_service.views.json_500"
