"""Staff: who they are, what they may do and what chats they can take."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin, caller, limit_company_choices
from routing_service.i18n.zones import is_time_zone
from routing_service.tenancy.models import Company, Role, User


def _tag() -> serializers.CharField:
    return serializers.CharField(max_length=64)


def _language_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=[("", ""), *((code, code) for code, _name in settings.LANGUAGES)],
        required=False,
        allow_blank=True,
        help_text="The pages' language (en, de, es); empty follows the browser's.",
    )


def _time_zone_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="An IANA time zone (Europe/Berlin); empty follows the company's.",
    )


class UserSerializer(JsonTypesMixin, serializers.ModelSerializer[User]):
    password = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Required when creating; checked by the server's password validators.",
    )
    role = serializers.ChoiceField(choices=Role.choices, default=Role.AGENT)
    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(),
        required=False,
        allow_null=True,
        help_text=(
            "Company admins may omit it (always their own company); superadmins name it for "
            "every role except superadmin, which belongs to no company."
        ),
    )
    max_chats = serializers.IntegerField(min_value=0, max_value=100, required=False)
    skills = serializers.ListField(child=_tag(), required=False, max_length=100)
    languages = serializers.ListField(child=_tag(), required=False, max_length=50)
    language = _language_field()
    time_zone = _time_zone_field()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "password",
            "email",
            "first_name",
            "last_name",
            "role",
            "company",
            "max_chats",
            "skills",
            "languages",
            "language",
            "time_zone",
            "status",
            "is_active",
        ]
        read_only_fields = ["id", "status"]

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        if isinstance(user, User):  # not so while the OpenAPI schema is generated
            limit_company_choices(fields["company"], user)
        return fields

    def validate_time_zone(self, value: str) -> str:
        return validate_zone_name(value)

    def validate_role(self, value: str) -> str:
        if value == Role.SUPERADMIN and not caller(self).is_superadmin:
            raise serializers.ValidationError("Only a superadmin can grant the superadmin role.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        user = caller(self)
        instance: User | None = self.instance
        errors: dict[str, list[str]] = {}

        role = attrs.get("role", instance.role if instance else Role.AGENT)
        if instance is not None and instance.pk == user.pk:
            # Nobody locks themselves (or their company) out by accident.
            if role != instance.role:
                errors["role"] = ["You cannot change your own role."]
            if attrs.get("is_active") is False:
                errors["is_active"] = ["You cannot deactivate yourself."]

        if role == Role.SUPERADMIN:
            if attrs.get("company") is not None:
                errors["company"] = ["A superadmin belongs to no company."]
            attrs["company"] = None
        else:
            if "company" in attrs:
                company = attrs["company"]
            elif instance is not None:
                company = instance.company
            else:
                company = self.context.get("company") or user.company
            if company is None:
                errors["company"] = ["This field is required for this role."]
            attrs["company"] = company

        password = attrs.get("password")
        if instance is None and not password:
            errors["password"] = ["This field is required."]
        elif password:
            candidate = instance or User(
                username=attrs.get("username", ""),
                email=attrs.get("email", ""),
                first_name=attrs.get("first_name", ""),
                last_name=attrs.get("last_name", ""),
            )
            try:
                validate_password(password, user=candidate)
            except DjangoValidationError as exc:
                errors["password"] = list(exc.messages)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def validate_zone_name(value: str) -> str:
    value = value.strip()
    if value and not is_time_zone(value):
        raise serializers.ValidationError(
            f"{value!r} is not a time zone name, such as Europe/Berlin or America/Bogota."
        )
    return value


class PreferencesSerializer(JsonTypesMixin, serializers.ModelSerializer[User]):
    """What anyone may change about themselves: `PATCH /api/v1/users/me/`."""

    language = _language_field()
    time_zone = _time_zone_field()

    class Meta:
        model = User
        fields = ["language", "time_zone"]

    def validate_time_zone(self, value: str) -> str:
        return validate_zone_name(value)
