"""The `company` field every tenant resource shares."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from rest_framework import serializers

from routing_service.tenancy.models import Company, User

_M = TypeVar("_M", bound=models.Model)
_T = TypeVar("_T")

COMPANY_HELP = (
    "The owning company. Superadmins must name it when creating; everyone else may omit it "
    "(it is always their own company). It cannot be changed afterwards."
)


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


class CompanySerializer(serializers.Serializer[_T]):
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
