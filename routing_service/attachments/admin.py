"""Attachments in the tenant-aware admin: a company's limits (editable by its admins) and the
files themselves (read-only: they are written by the worker and the upload endpoint)."""

from __future__ import annotations

from typing import ClassVar

from django import forms
from django.contrib import admin

from routing_service.attachments.models import Attachment, AttachmentPolicy
from routing_service.attachments.rules import ALL_CATEGORIES
from routing_service.tenancy.admin_mixins import TenantModelAdmin, TenantModelForm


class AttachmentPolicyForm(TenantModelForm):
    allowed_categories = forms.MultipleChoiceField(
        choices=[(c, c) for c in ALL_CATEGORIES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: all of them.",
    )

    class Meta:
        model = AttachmentPolicy
        fields = ["company", "max_bytes", "allowed_categories", "quota_bytes"]


@admin.register(AttachmentPolicy)
class AttachmentPolicyAdmin(TenantModelAdmin):
    form = AttachmentPolicyForm
    list_display = ("__str__", "max_bytes", "quota_bytes", "updated_at")
    list_select_related = ("company",)
    readonly_fields = ("updated_at",)


@admin.register(Attachment)
class AttachmentAdmin(TenantModelAdmin):
    company_admin_permissions: ClassVar[frozenset[str]] = frozenset({"view"})
    list_display = ("id", "name", "content_type", "size", "status", "source", "created_at")
    list_filter = ("status", "source")
    search_fields = ("name",)
    readonly_fields = [f.name for f in Attachment._meta.fields]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False
