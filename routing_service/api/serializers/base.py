"""What every API input serializer shares: JSON types as the schema states them, and the
`company` field of tenant resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import models
from django.http import QueryDict
from rest_framework import serializers

from routing_service.tenancy.models import Company, User

_M = TypeVar("_M", bound=models.Model)
_T = TypeVar("_T")

COMPANY_HELP = (
    "The owning company. Superadmins must name it when creating; everyone else may omit it "
    "(it is always their own company). It cannot be changed afterwards."
)


# The JSON type each kind of field takes, first match wins (EmailField is a CharField...).
_JSON_TYPES: tuple[tuple[type[serializers.Field[Any, Any, Any, Any]], str], ...] = (
    (serializers.BooleanField, "a boolean"),
    (serializers.CharField, "a string"),
    (serializers.IntegerField, "an integer"),
    (serializers.PrimaryKeyRelatedField, "an integer id"),
    (serializers.ListField, "a list"),
)


def _json_type_error(field: serializers.Field[Any, Any, Any, Any], value: Any) -> str | None:
    for kind, name in _JSON_TYPES:
        if not isinstance(field, kind):
            continue
        if kind is serializers.BooleanField:
            ok = isinstance(value, bool)
        elif kind is serializers.CharField:
            ok = isinstance(value, str)
        elif kind is serializers.ListField:
            ok = isinstance(value, list)
        else:  # JSON Schema counts 3.0 as an integer
            ok = not isinstance(value, bool) and (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            )
        if not ok:
            return f"Must be {name}."
        if isinstance(field, serializers.ListField):
            for item in value:
                if item is not None and (problem := _json_type_error(field.child, item)):
                    return f"Each item: {problem[0].lower()}{problem[1:]}"
        return None
    return None


class JsonTypesMixin:
    """A JSON body's values must have the types the schema states.

    DRF reads `5` into a string field as `"5"`, `"5"` into an integer field and `"yes"` into a
    boolean one: an input the schema calls invalid would be stored as something else. Form
    bodies (a `QueryDict`, all strings) are left to the fields' own parsing.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            errors: dict[str, list[str]] = {}
            for field in self._writable_fields:  # type: ignore[attr-defined]
                value = data.get(field.field_name)
                if value is not None and (problem := _json_type_error(field, value)):
                    errors[field.field_name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


def caller(serializer: serializers.BaseSerializer[Any]) -> User:
    user = serializer.context["request"].user
    assert isinstance(user, User)
    return user


def limit_company_choices(field: serializers.Field[Any, Any, Any, Any], user: User) -> None:
    """Only a superadmin may name another company. Everyone else's choices are their own
    company alone, so naming any other id reads "does not exist" and reveals nothing."""
    if not isinstance(field, serializers.PrimaryKeyRelatedField) or user.is_superadmin:
        return
    field.queryset = (
        Company.objects.filter(pk=user.company_id) if user.company_id else Company.objects.none()
    )


class CompanySerializer(JsonTypesMixin, serializers.Serializer[_T]):
    """A `company` field: only a superadmin may name another company; when creating, it
    defaults to the view's company (`context["company"]`)."""

    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(), required=False, help_text=COMPANY_HELP
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        if isinstance(user, User):  # not so while the OpenAPI schema is generated
            limit_company_choices(fields["company"], user)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if self.instance is None and attrs.get("company") is None:
            company = self.context.get("company")
            if company is None:
                raise serializers.ValidationError({"company": ["This field is required."]})
            attrs["company"] = company
        return attrs


class TenantModelSerializer(CompanySerializer[_M], serializers.ModelSerializer[_M]):
    """A company-owned row: `company` defaults to the view's company and never moves."""

    def validate_company(self, value: Company) -> Company:
        if self.instance is not None and value.pk != self.instance.company_id:  # type: ignore[attr-defined]
            raise serializers.ValidationError("Cannot be moved to another company.")
        return value

    def target_company(self, attrs: dict[str, Any]) -> Company:
        """The company the validated row belongs (or will belong) to."""
        company = attrs.get("company")
        if company is None:
            company = self.instance.company  # type: ignore[union-attr]
        assert isinstance(company, Company)
        return company
