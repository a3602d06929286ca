"""Inboxes. Secrets go in and never come out: `secret` is write-only and credentials inside
`config` are masked in every answer. The URLs replies are sent to (`config.callback_url`,
`config.api_base_url`) must reach a public address (routing_service/outbound/destinations.py):
checked here when saved, and again by the outbound transport on every connection."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from routing_service.api.serializers.base import TenantModelSerializer
from routing_service.chats import provisioning
from routing_service.chats.models import Channel, Provider
from routing_service.outbound import destinations
from routing_service.outbound.transport import allowed_hosts

MAX_BODY_LIMIT = 16 * 1024 * 1024


@extend_schema_field({"type": "object", "additionalProperties": True})
class _ConfigField(serializers.JSONField):
    """A JSON object (the schema says so: any JSON value would read as allowed)."""


class ChannelSerializer(TenantModelSerializer[Channel]):
    provider = serializers.ChoiceField(
        choices=Provider.choices, help_text="Fixed once created: it is part of the webhook URL."
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        max_length=255,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=(
            "Required when creating. What authenticates the provider: generic signing secret, "
            "Twilio auth token, WhatsApp app secret or Telegram secret token. Changing it keeps "
            "the old one valid until the next change or `revoke_previous_secret`."
        ),
    )
    revoke_previous_secret = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="Stop accepting the secret that was replaced by the last rotation.",
    )
    has_previous_secret = serializers.SerializerMethodField()
    config = _ConfigField(
        required=False,
        help_text=(
            "Provider settings: generic {callback_url?}, twilio {account_sid}, whatsapp "
            "{phone_number_id, access_token, verify_token}, telegram {bot_token}; all accept "
            "api_base_url. Credentials are masked in responses; sending a masked value back "
            "keeps the stored one."
        ),
    )
    max_body_bytes = serializers.IntegerField(
        min_value=1024, max_value=MAX_BODY_LIMIT, required=False, allow_null=True
    )
    webhook_url = serializers.CharField(read_only=True)

    class Meta:
        model = Channel
        fields = [
            "id",
            "company",
            "name",
            "provider",
            "secret",
            "revoke_previous_secret",
            "has_previous_secret",
            "config",
            "max_body_bytes",
            "is_active",
            "uuid",
            "webhook_url",
            "created_at",
        ]
        read_only_fields = ["id", "uuid", "created_at"]

    def get_has_previous_secret(self, channel: Channel) -> bool:
        return bool(channel.previous_secret)

    def to_representation(self, instance: Channel) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        data["config"] = provisioning.masked_config(instance.config or {})
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance: Channel | None = self.instance
        errors: dict[str, Any] = {}

        provider = attrs.get("provider", instance.provider if instance else "")
        if instance is not None and provider != instance.provider:
            errors["provider"] = ["Cannot be changed; create a new channel instead."]

        secret = attrs.get("secret")
        if instance is None and secret is None:
            errors["secret"] = ["This field is required."]
        elif secret is not None:
            secret_errors = provisioning.validate_channel_secret(provider, secret)
            if secret_errors:
                errors["secret"] = secret_errors

        if instance is None or "config" in attrs:
            config = attrs.get("config", {})
            if instance is not None and isinstance(config, dict):
                config = provisioning.unmask_config(config, instance.config or {})
            config_errors = provisioning.validate_channel_config(provider, config)
            config_errors.update(_destination_errors(provider, config, config_errors))
            if config_errors:
                errors["config"] = config_errors
            attrs["config"] = config
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def _destination_errors(
    provider: str, config: Any, errors: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Errors for the config URLs whose host is not a public address (or allowed by name)."""
    if not isinstance(config, dict):
        return {}
    spec = provisioning.PROVIDER_CONFIG.get(provider, provisioning.ConfigSpec())
    found: dict[str, list[str]] = {}
    for key in spec.urls:
        value = config.get(key)
        if key in errors or not isinstance(value, str) or not value:
            continue
        try:
            destinations.check_url(value, allowed_hosts())
        except ValueError:
            found[key] = ["Enter a valid URL."]
        except destinations.UnsafeDestination as exc:
            found[key] = [
                f"Replies cannot be sent to {exc.host}: it is {exc.reason}. Use a public "
                "address, or ask the operator to list the host in OUTBOUND_ALLOWED_HOSTS."
            ]
    return found
