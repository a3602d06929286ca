"""Tenant isolation for the Django admin (/admin/).

A superadmin sees and edits every company's rows; a company admin sees only their own company's,
everywhere the admin can show a row: change lists, change/delete/history views, foreign-key and
many-to-many choices, the autocomplete endpoint (it asks the *related* model's admin for its
queryset, so every admin a form can point at must use this mixin and have `search_fields`) and
list-filter choices. Supervisors, agents and viewers are not staff and never reach the admin.

The request's active company (set by `CompanyMiddleware`) already scopes every tenant manager,
but nothing here relies on it: every queryset is filtered by the user's own company explicitly,
so the admin stays isolated even where no active company is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpRequest

from routing_service.tenancy.context import active_company
from routing_service.tenancy.managers import CompanyScopedManager
from routing_service.tenancy.models import Company, Role

_ModelT = TypeVar("_ModelT", bound=models.Model)
_QS = TypeVar("_QS", bound=models.QuerySet[Any])

if TYPE_CHECKING:
    # Django's admin classes are generic only in the stubs (nothing patches them at run time).
    _BaseModelAdmin = admin.options.BaseModelAdmin[Any]
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _BaseModelAdmin = admin.options.BaseModelAdmin
    _ModelAdmin = admin.ModelAdmin

ALL_PERMISSIONS = frozenset({"view", "add", "change", "delete"})


# --- Who is asking -----------------------------------------------------------------------------


def is_superadmin(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and getattr(user, "role", None) == Role.SUPERADMIN)


def admin_company_id(request: HttpRequest) -> int | None:
    """The company a company admin manages; None for everyone else (superadmins included)."""
    user = request.user
    if user.is_active and getattr(user, "role", None) == Role.COMPANY_ADMIN:
        company_id: int | None = getattr(user, "company_id", None)
        return company_id
    return None


# --- Which models belong to a company ----------------------------------------------------------


def company_field(model: type[models.Model]) -> models.Field[Any, Any] | None:
    """The model's `company` relation to Company (tenant rows and users), or None."""
    try:
        field = model._meta.get_field("company")
    except FieldDoesNotExist:
        return None
    if isinstance(field, models.ForeignKey) and field.related_model is Company:
        return field
    return None


def is_company_scoped(model: type[models.Model]) -> bool:
    """Rows a company admin may only see for their own company: companies, users, tenant rows."""
    return model is Company or company_field(model) is not None


def owner_company_id(obj: models.Model) -> int | None:
    if isinstance(obj, Company):
        return obj.pk
    company_id: int | None = getattr(obj, "company_id", None)
    return company_id


def limit_to_company(queryset: _QS, company_id: int | None) -> _QS:
    """Only `company_id`'s rows of a company-scoped queryset (none when there is no company)."""
    model = queryset.model
    if company_id is None:
        return queryset.none()
    if model is Company:
        return queryset.filter(pk=company_id)
    if company_field(model) is not None:
        return queryset.filter(company_id=company_id)
    return queryset


def all_rows(model: type[_ModelT], using: str | None = None) -> models.QuerySet[_ModelT]:
    """Every row of `model`, whatever company is active: the superadmin's starting point."""
    manager = model._default_manager.db_manager(using)
    if isinstance(manager, CompanyScopedManager):
        return manager.unscoped()
    return manager.all()


# --- Forms and filters -------------------------------------------------------------------------


class TenantModelForm(forms.ModelForm):
    """Refuses a related row of another company than the row's own.

    A company admin's choices are already limited to their company; this catches a superadmin
    who picks, say, company A for a conversation but a client of company B. Related rows that
    belong to no company (a superadmin as `created_by`) are allowed.
    """

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned: dict[str, Any] = self.cleaned_data
        if "company" in self.fields:
            company = cleaned.get("company")
            row_company_id = company.pk if isinstance(company, Company) else None
        else:
            row_company_id = getattr(self.instance, "company_id", None)
        if row_company_id is None:
            return cleaned
        opts = self._meta.model._meta
        for name, value in list(cleaned.items()):
            if name == "company" or not value:
                continue
            try:
                field = opts.get_field(name)
            except FieldDoesNotExist:
                continue
            related = field.related_model
            if not field.is_relation or not isinstance(related, type):
                continue
            if not is_company_scoped(related):
                continue
            values: Iterable[models.Model] = value if field.many_to_many else [value]
            if any(owner_company_id(v) not in (None, row_company_id) for v in values):
                self.add_error(name, "This belongs to another company.")
        return cleaned


class CompanyScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A relation filter whose choices are the company admin's own company's rows only.

    Django's RelatedFieldListFilter lists every row of the related model; scoping by company (a
    small, indexed set) rather than by "rows used in this list" (RelatedOnlyFieldListFilter)
    keeps the change list cheap on large tables.
    """

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        ordering = self.field_admin_ordering(field, request, model_admin)
        related = field.related_model
        if is_superadmin(request) or not is_company_scoped(related):
            with active_company(None):  # every company's rows, as in `get_queryset`
                return list(field.get_choices(include_blank=False, ordering=ordering))
        company_id = admin_company_id(request)
        if company_id is None:
            return []
        limit = {"pk": company_id} if related is Company else {"company_id": company_id}
        return list(
            field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)
        )


# --- The mixin ---------------------------------------------------------------------------------


class TenantAdminMixin(_BaseModelAdmin):
    """Mix into a ModelAdmin or an inline of a company-scoped model (listed before the base).

    What each role may do is declared, not coded: `superadmin_permissions` and
    `company_admin_permissions` are subsets of {"view", "add", "change", "delete"}. Keep "delete"
    for superadmins on every model a company cascades to: the admin refuses to delete a company
    when the user may not delete one of the rows that would go with it.
    """

    form: Any = TenantModelForm
    superadmin_permissions: ClassVar[frozenset[str]] = ALL_PERMISSIONS
    company_admin_permissions: ClassVar[frozenset[str]] = ALL_PERMISSIONS

    # Rows.

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        # Built with no active company so that a superadmin really gets every row; a company
        # admin's rows are then limited explicitly, never by the context variable alone.
        with active_company(None):
            queryset = super().get_queryset(request)
        if is_superadmin(request):
            return queryset
        return limit_to_company(queryset, admin_company_id(request))

    # Permissions (supervisors, agents and viewers are not staff: the site refuses them first).

    def _allowed(self, request: HttpRequest, action: str, obj: models.Model | None) -> bool:
        if is_superadmin(request):
            return action in self.superadmin_permissions
        company_id = admin_company_id(request)
        if company_id is None or action not in self.company_admin_permissions:
            return False
        # `obj` is the row itself, or for an inline the parent row.
        return obj is None or owner_company_id(obj) == company_id

    def has_module_permission(self, request: HttpRequest) -> bool:
        if is_superadmin(request):
            return bool(self.superadmin_permissions)
        return admin_company_id(request) is not None and bool(self.company_admin_permissions)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "view", obj) or self._allowed(request, "change", obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "add", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "delete", obj)

    # Form fields.

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        if db_field is company_field(self.model) and not is_superadmin(request):
            # A company admin's rows always belong to their company: the field is kept (so that
            # unique constraints involving it are validated by the form) but hidden, and
            # `disabled` makes the form ignore whatever a tampered POST says.
            company_id = admin_company_id(request)
            return db_field.formfield(
                queryset=limit_to_company(Company.objects.all(), company_id),
                widget=forms.HiddenInput,
                disabled=True,
                initial=company_id,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_field_queryset(
        self, db: str | None, db_field: Any, request: HttpRequest
    ) -> models.QuerySet[Any] | None:
        """Choices of every foreign key and many-to-many field: the user's company's rows."""
        related = db_field.remote_field.model
        if not is_company_scoped(related):
            return super().get_field_queryset(db, db_field, request)
        queryset = all_rows(related, db)
        try:
            ordering = self.admin_site.get_model_admin(related).get_ordering(request)
        except NotRegistered:
            ordering = None
        if ordering:
            queryset = queryset.order_by(*ordering)
        if is_superadmin(request):
            return queryset
        return limit_to_company(queryset, admin_company_id(request))


class TenantModelAdmin(TenantAdminMixin, _ModelAdmin):
    """A ModelAdmin for company-scoped rows: see `TenantAdminMixin`.

    A superadmin's change lists also get the company column, its filter and its join. Foreign
    keys named in `list_filter` get company-scoped choices (`CompanyScopedRelatedFilter`). Once a
    row exists its company is fixed (`company_fixed_after_add`).
    """

    # A row never moves to another company (its related rows would stay behind): the company
    # field is disabled once the row exists. The user admin turns this off.
    company_fixed_after_add: ClassVar[bool] = True
    # Name every relation the change list shows: Django's automatic `select_related()` skips
    # nullable foreign keys, which would cost one query per row.
    list_select_related: ClassVar[Any] = ()

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = [c for c in super().get_list_display(request) if c != "company"]
        if is_superadmin(request) and company_field(self.model) is not None:
            columns.insert(1, "company")
        return columns

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters: list[Any] = [f for f in super().get_list_filter(request) if f != "company"]
        if is_superadmin(request) and company_field(self.model) is not None:
            filters.insert(0, "company")
        return [self._scoped_filter(f) for f in filters]

    def _scoped_filter(self, list_filter: Any) -> Any:
        if not isinstance(list_filter, str):
            return list_filter
        field = get_fields_from_path(self.model, list_filter)[-1]
        related = getattr(field, "related_model", None)
        if isinstance(related, type) and is_company_scoped(related):
            return (list_filter, CompanyScopedRelatedFilter)
        return list_filter

    def get_list_select_related(self, request: HttpRequest) -> Any:
        select = super().get_list_select_related(request)
        if isinstance(select, bool):
            return select
        if is_superadmin(request) and company_field(self.model) is not None:
            return (*select, "company")
        return select

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        company = form.base_fields.get("company")
        if obj is not None and company is not None and self.company_fixed_after_add:
            company.disabled = True
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if not is_superadmin(request):
            initial.pop("company", None)
        return initial

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        if not is_superadmin(request) and company_field(self.model) is not None:
            # Belt and braces: the form field is disabled, but the row's company is not the
            # form's to decide for a company admin.
            obj.company_id = admin_company_id(request)
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: Any) -> None:
        """New inline rows take their company from the parent row (inlines have no company
        field of their own)."""
        parent_company_id = owner_company_id(form.instance)
        instances = formset.save(commit=False)
        for instance in instances:
            if company_field(type(instance)) is not None and instance.company_id is None:
                instance.company_id = parent_company_id
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()


class TenantInlineMixin(TenantAdminMixin):
    """For inlines: like `TenantAdminMixin`, and the company comes from the parent row."""

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or ())
        if company_field(self.model) is not None and "company" not in exclude:
            exclude.append("company")
        return exclude
