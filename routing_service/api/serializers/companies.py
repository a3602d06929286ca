"""Tenants, as a superadmin sees them."""

from __future__ import annotations

from typing import Any

from django.utils.text import slugify
from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin
from routing_service.i18n.zones import is_time_zone
from routing_service.tenancy.models import Company


class CompanySerializer(JsonTypesMixin, serializers.ModelSerializer[Company]):
    slug = serializers.SlugField(
        max_length=64, required=False, help_text="Defaults to the slugified name."
    )

    class Meta:
        model = Company
        fields = ["id", "name", "slug", "is_active", "time_zone", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_time_zone(self, value: str) -> str:
        value = value.strip() or "UTC"
        if not is_time_zone(value):
            raise serializers.ValidationError(
                f"{value!r} is not a time zone name, such as Europe/Berlin or America/Bogota."
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if self.instance is None and not attrs.get("slug"):
            attrs["slug"] = slugify(attrs.get("name", ""))[:64]
            if not attrs["slug"]:
                raise serializers.ValidationError(
                    {"slug": ["The name gives no usable slug; please provide one."]}
                )
        slug = attrs.get("slug")
        if slug is not None:
            others = Company.objects.filter(slug=slug)
            if self.instance is not None:
                others = others.exclude(pk=self.instance.pk)
            if others.exists():
                raise serializers.ValidationError(
                    {"slug": ["A company with this slug already exists."]}
                )
        return attrs
