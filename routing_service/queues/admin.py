"""Admin for queues, their members and queue rules (tenant-aware: see `admin_mixins`).

The admin saves rows itself, so it asks the queue actions for the same validation (names,
overflow cycles, calendars, auto-replies, rule matches) and raises the company's queue version
after every write, as the actions do, so routers reload the configuration.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from routing_service.queues import actions
from routing_service.queues.models import Queue, QueueMembership, QueueRule
from routing_service.tenancy.admin_mixins import (
    TenantInlineMixin,
    TenantModelAdmin,
    TenantModelForm,
)

# What the form passes to the actions' checks: every queue setting but the two the form
# handles itself (the default flag, and the overflow target, taken as the chosen row).
_QUEUE_FORM_FIELDS = actions.QUEUE_FIELDS - {"is_default", "overflow_queue"}


class QueueForm(TenantModelForm):
    class Meta:
        model = Queue
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        company = data.get("company") or getattr(self.instance, "company", None)
        if company is None:
            return data
        values = {name: data[name] for name in _QUEUE_FORM_FIELDS if name in data}
        values["overflow_queue"] = data.get("overflow_queue")
        for field, messages in actions.queue_config_errors(
            company.pk, self.instance, values
        ).items():
            name = field.split(".", 1)[0]
            self.add_error(name if name in self.fields else None, messages)
        return data


class QueueMembershipInline(TenantInlineMixin, admin.TabularInline):
    model = QueueMembership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Queue)
class QueueAdmin(TenantModelAdmin):
    form = QueueForm
    list_display = ("name", "is_default", "strategy", "service_level_seconds", "overflow_queue")
    list_filter = ("is_default", "strategy")
    list_select_related = ("overflow_queue",)
    search_fields = ("name", "company__name")
    readonly_fields = ("is_default", "created_at", "updated_at")
    inlines = (QueueMembershipInline,)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        super().save_model(request, obj, form, change)
        actions.bump_version(obj.company_id)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: Any) -> None:
        super().save_formset(request, form, formset, change)
        actions.bump_version(form.instance.company_id)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        actions.delete_queue(obj, actor_id=request.user.pk)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for queue in queryset:
            actions.delete_queue(queue, actor_id=request.user.pk)


class QueueRuleForm(TenantModelForm):
    class Meta:
        model = QueueRule
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        company = data.get("company") or getattr(self.instance, "company", None)
        if company is None:
            return data
        values: dict[str, Any] = {"match": data.get("match") or {}}
        if data.get("queue") is not None:
            values["queue"] = data["queue"].pk
        for field, messages in actions.rule_config_errors(company.pk, values).items():
            name = field.split(".", 1)[0]
            self.add_error(name if name in self.fields else None, messages)
        return data


@admin.register(QueueRule)
class QueueRuleAdmin(TenantModelAdmin):
    form = QueueRuleForm
    list_display = ("order", "queue", "match")
    list_select_related = ("queue",)
    search_fields = ("queue__name", "company__name")
    ordering = ("company", "order", "id")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        super().save_model(request, obj, form, change)
        actions.bump_version(obj.company_id)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        actions.delete_rule(obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for rule in queryset:
            actions.delete_rule(rule)
