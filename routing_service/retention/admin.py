"""Retention in the tenant-aware admin: a company's policy (editable by its admins) and the
erasure audit trail (read-only)."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin

from routing_service.retention.models import ErasureRecord, RetentionPolicy
from routing_service.tenancy.admin_mixins import TenantModelAdmin


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(TenantModelAdmin):
    list_display = ("__str__", "messages_days", "events_days", "sessions_days", "updated_at")
    list_select_related = ("company",)
    fields = ("company", "messages_days", "events_days", "sessions_days", "updated_at")
    readonly_fields = ("updated_at",)


@admin.register(ErasureRecord)
class ErasureRecordAdmin(TenantModelAdmin):
    company_admin_permissions: ClassVar[frozenset[str]] = frozenset({"view"})
    list_display = ("id", "client_ref", "erased_at", "requested_by")
    list_select_related = ("company", "requested_by")
    readonly_fields = ("company", "client_ref", "requested_by", "erased_at", "counts")

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
