"""Admin for companies and their staff (tenant-aware: see `admin_mixins`)."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm, UsernameField
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from routing_service.chats.models import RoutingPolicy
from routing_service.tenancy.actions import normalise_tags, update_company, update_user
from routing_service.tenancy.admin_mixins import TenantModelAdmin, is_superadmin
from routing_service.tenancy.forms import AdminPasswordChangeForm
from routing_service.tenancy.models import Company, Role, User

_COMPANY_FIELDS = frozenset({"name", "slug", "is_active", "time_zone"})


@admin.register(Company)
class CompanyAdmin(TenantModelAdmin):
    """Superadmins manage every company; a company admin sees theirs and may rename it."""

    company_admin_permissions: ClassVar[frozenset[str]] = frozenset({"view", "change"})
    list_display = ("name", "slug", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    ordering = ("name",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if is_superadmin(request):
            return ("created_at",)
        return ("slug", "is_active", "created_at")

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return {"slug": ("name",)} if is_superadmin(request) and obj is None else {}

    def save_model(self, request: HttpRequest, obj: Company, form: Any, change: Any) -> None:
        if change:
            # Through the action: deactivating a company revokes its people's credentials.
            changes = {f: getattr(obj, f) for f in form.changed_data if f in _COMPANY_FIELDS}
            update_company(obj, **changes)
            return
        super().save_model(request, obj, form, change)
        # Every company has exactly one routing policy (as `create_company` makes it).
        RoutingPolicy.objects.unscoped().get_or_create(company=obj)


class _UserFormMixin(forms.BaseForm):
    """Rules both user forms share: a company for every role but superadmin; tidy tags."""

    def clean_skills(self) -> list[str]:
        return _clean_tags(self.cleaned_data.get("skills"))

    def clean_languages(self) -> list[str]:
        return _clean_tags(self.cleaned_data.get("languages"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned: dict[str, Any] = self.cleaned_data
        role = cleaned.get("role", getattr(self, "instance", None) and self.instance.role)  # type: ignore[attr-defined]
        needs_company = role and role != Role.SUPERADMIN and "company" in self.fields
        if needs_company and cleaned.get("company") is None and "company" not in self.errors:
            self.add_error("company", "Every role but superadmin belongs to a company.")
        return cleaned


def _clean_tags(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise forms.ValidationError('A list of strings, e.g. ["en", "de"].')
    return normalise_tags(value)


class UserCreationAdminForm(_UserFormMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("username",)
        field_classes = {"username": UsernameField}


class UserChangeAdminForm(_UserFormMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"username": UsernameField}


# What `update_user` accepts (the user form's other fields are read-only or the password's).
_UPDATABLE = frozenset(
    {
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "company",
        "max_chats",
        "skills",
        "languages",
        "is_active",
        "language",
        "time_zone",
    }
)


@admin.register(User)
class UserAdmin(TenantModelAdmin, DjangoUserAdmin):
    """Company admins manage their own company's people; only superadmins make superadmins.

    Django's is_staff / is_superuser are derived from the role in `User.save`, so the role is
    the one permission shown here.
    """

    company_fixed_after_add = False
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    # Saves through `change_password`: tokens rotated, sockets closed (tenancy/forms.py).
    change_password_form = AdminPasswordChangeForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Language and time zone"), {"fields": ("language", "time_zone")}),
        (_("Company and role"), {"fields": ("company", "role", "is_active")}),
        (_("Routing"), {"fields": ("max_chats", "skills", "languages", "status")}),
        (
            _("Activity"),
            {
                "classes": ("collapse",),
                "fields": (
                    "active_chats",
                    "status_changed_at",
                    "last_assigned_at",
                    "idle_since",
                    "last_login",
                    "date_joined",
                ),
            },
        ),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
            },
        ),
        (_("Company and role"), {"fields": ("company", "role", "email")}),
        (_("Routing"), {"fields": ("max_chats", "skills", "languages")}),
    )
    # Presence (status) belongs to the agent's console and its events; the rest is written by
    # the routing actions under the agent's lock. Never by hand.
    readonly_fields = (
        "status",
        "active_chats",
        "status_changed_at",
        "last_assigned_at",
        "idle_since",
        "last_login",
        "date_joined",
    )
    list_display = (
        "username",
        "full_name",
        "email",
        "role",
        "status",
        "active_chats",
        "max_chats",
        "is_active",
    )
    list_filter = ("role", "status", "is_active")
    search_fields = ("username", "first_name", "last_name", "email")
    ordering = ("username",)
    filter_horizontal = ()

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, obj: User) -> str:
        return obj.get_full_name()

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: Any) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Through the action, which revokes the user's credentials when their role, company or
        # active flag changes and takes a deactivated user offline (the router stops offering
        # them chats). The form has already put every change on `obj`.
        changes = {f: getattr(obj, f) for f in form.changed_data if f in _UPDATABLE}
        update_user(obj, **changes)

    def formfield_for_choice_field(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "role" and not is_superadmin(request):
            kwargs["choices"] = [(v, label) for v, label in Role.choices if v != Role.SUPERADMIN]
        return super().formfield_for_choice_field(db_field, request, **kwargs)
