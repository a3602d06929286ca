"""Admin for analytics: data sources, chat sessions, dashboards and daily roll-ups.

Tenant-aware through `TenantModelAdmin`. Import reports and roll-ups are written by the workers:
here they are read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import ChatResponseTracking, ChatSession, Dashboard, DataSource
from routing_service.tenancy.admin_mixins import TenantModelAdmin


@admin.register(DataSource)
class DataSourceAdmin(TenantModelAdmin):
    list_display = (
        "name",
        "kind",
        "status",
        "rows_imported",
        "rows_rejected",
        "duplicates",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status")
    list_select_related = ("created_by",)
    search_fields = ("name",)
    # The import report, filled by the importer.
    readonly_fields = (
        "status",
        "bytes_total",
        "bytes_processed",
        "rows_imported",
        "rows_rejected",
        "duplicates",
        "errors",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def save_model(self, request: HttpRequest, obj: DataSource, form: Any, change: Any) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(ChatSession)
class ChatSessionAdmin(TenantModelAdmin):
    list_display = (
        "session_id",
        "start_time",
        "end_time",
        "country",
        "language",
        "messages_sent",
        "sentiment",
        "escalated",
        "user_rating",
        "data_source",
    )
    list_filter = ("sentiment", "escalated", "forwarded_hr", "data_source")
    list_select_related = ("data_source",)
    search_fields = ("session_id", "category")
    autocomplete_fields = ("conversation",)


@admin.register(Dashboard)
class DashboardAdmin(TenantModelAdmin):
    list_display = (
        "name",
        "include_live",
        "date_from",
        "date_to",
        "last_days",
        "created_by",
        "created_at",
    )
    list_select_related = ("created_by",)
    search_fields = ("name",)
    filter_horizontal = ("data_sources",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request: HttpRequest, obj: Dashboard, form: Any, change: Any) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(ChatResponseTracking)
class ChatResponseTrackingAdmin(TenantModelAdmin):
    """Daily roll-ups written by `update_chat_metrics`: read-only for everyone."""

    company_admin_permissions = frozenset({"view"})
    # Superadmins keep "delete" so that deleting a company (which cascades here) stays possible.
    superadmin_permissions = frozenset({"view", "delete"})
    list_display = (
        "date",
        "agent",
        "chats",
        "resolved",
        "abandoned",
        "escalations",
        "first_response_median_seconds",
        "resolution_median_seconds",
        "sla_compliance_rate",
    )
    list_filter = ("date", "agent")
    list_select_related = ("agent",)
    search_fields = ("agent__username",)
    date_hierarchy = "date"
