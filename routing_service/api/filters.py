"""Query-string filters for every API list: strict and described exactly in the schema.

django-filter's defaults are lenient in two ways that the OpenAPI schema cannot describe: a
boolean it cannot read (`?is_active=null`) silently drops the filter, and a foreign key filter
answers 400 for an id that does not exist while filtering another company's id down to nothing
— which tells the two apart. Here a malformed value is always a 400 naming the parameter, and
any well-formed id simply filters (an unknown or foreign one to an empty page).
"""

from __future__ import annotations

from typing import Any, Final

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from drf_spectacular.utils import extend_schema_field

__all__ = [
    "ID_SCHEMA",
    "ApiFilterBackend",
    "ApiFilterSet",
    "BooleanFilter",
    "IdFilter",
    "MultipleChoiceFilter",
]

# Row ids: bigint primary keys, from 1.
ID_MAX: Final = 2**63 - 1
ID_SCHEMA: Final = {"type": "integer", "minimum": 1, "maximum": ID_MAX}


class _IdField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.NumberFilter):
    """A row id (a whole number, not a decimal): unknown ids filter down to nothing."""

    field_class = _IdField


class _Boolean(forms.Field):
    """`true` or `false`, as OpenAPI writes a boolean query parameter; anything else is an
    error rather than "no filter"."""

    default_error_messages = {"invalid": "Enter true or false."}

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        if value not in ("true", "false"):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return value == "true"


@extend_schema_field({"type": "boolean"})
class BooleanFilter(django_filters.BooleanFilter):
    field_class = _Boolean


class _MultipleChoiceField(forms.MultipleChoiceField):
    def to_python(self, value: Any) -> list[str]:
        # `?status=` alone, as a form with nothing picked sends it, means no filter.
        return [item for item in super().to_python(value) if item != ""]


class MultipleChoiceFilter(django_filters.MultipleChoiceFilter):
    """`?status=waiting&status=assigned`: any of them; an empty value is ignored."""

    field_class = _MultipleChoiceField


class ApiFilterSet(FilterSet):
    """The base of every API filter set, including those built from `filterset_fields`."""

    FILTER_DEFAULTS = {
        **FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        models.AutoField: {"filter_class": IdFilter},
        models.BigAutoField: {"filter_class": IdFilter},
    }


class ApiFilterBackend(DjangoFilterBackend):
    filterset_base = ApiFilterSet
