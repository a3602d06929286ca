"""Admin for SLA policies: one per company and priority (tenant-aware: see `admin_mixins`)."""

from __future__ import annotations

from django.contrib import admin

from routing_service.tenancy.admin_mixins import TenantModelAdmin
from sla_engine.models import ChatSLA


@admin.register(ChatSLA)
class ChatSLAAdmin(TenantModelAdmin):
    list_display = (
        "priority",
        "first_response_minutes",
        "resolution_minutes",
        "warning_percent",
        "work_start",
        "work_end",
        "include_weekends",
        "timezone",
    )
    list_filter = ("priority", "include_weekends")
    # The model orders by company (name): join it rather than query it per row.
    list_select_related = ("company",)
    search_fields = ("company__name", "priority")
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("company", "priority", "queue", "warning_percent")}),
        (
            "Targets (business minutes)",
            {"fields": ("first_response_minutes", "resolution_minutes")},
        ),
        (
            "Business calendar",
            {
                "fields": (
                    "timezone",
                    ("work_start", "work_end", "work_end_is_end_of_day"),
                    "work_intervals",
                    "weekdays",
                    "include_weekends",
                    ("holiday_country", "holiday_subdivision"),
                    "holidays",
                )
            },
        ),
        (
            "Pauses and escalation",
            {"fields": ("pause_while_waiting_on_customer", "escalation_ladder", "updated_at")},
        ),
    )
