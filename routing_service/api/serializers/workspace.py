"""The agent's workspace over REST: notes, labels, canned responses, customer profiles."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin
from routing_service.chats.models import CannedResponse, Client, ClientNote, Label
from routing_service.chats.workspace_rules import MAX_ATTRIBUTES, client_identities


class NoteSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    text = serializers.CharField(max_length=4096, trim_whitespace=True)


class LabelSerializer(JsonTypesMixin, serializers.ModelSerializer[Label]):
    name = serializers.CharField(max_length=64, trim_whitespace=True)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", max_length=7, help_text="`#rrggbb`.")

    class Meta:
        model = Label
        fields = ["id", "name", "color", "created_at"]
        read_only_fields = ["id", "created_at"]


class ConversationLabelsSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    labels = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=20, allow_empty=True
    )


class CannedResponseSerializer(JsonTypesMixin, serializers.ModelSerializer[CannedResponse]):
    shortcode = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,32}$",
        max_length=32,
        help_text="Letters, digits, `_` and `-`: typed after `/` in the reply box.",
    )
    title = serializers.CharField(max_length=120, trim_whitespace=True)
    text = serializers.CharField(max_length=4096, trim_whitespace=True)
    scope = serializers.ChoiceField(
        choices=["company", "personal"],
        required=False,
        default="personal",
        help_text="`company`: shared (company admins); `personal`: yours alone. Fixed once made.",
    )
    owner = serializers.IntegerField(source="owner_id", read_only=True, allow_null=True)

    class Meta:
        model = CannedResponse
        fields = ["id", "shortcode", "title", "text", "scope", "owner", "created_at", "updated_at"]
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class RenderedSerializer(serializers.Serializer[Any]):
    text = serializers.CharField()


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": MAX_ATTRIBUTES,
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "maxLength": 1000},
                {"type": "number"},
                {"type": "boolean"},
            ],
            "nullable": True,
        },
        "description": "Flat object: keys of 1–64 characters; string (≤ 1,000), number, "
        "boolean or null values; at most 50 keys and 16 KiB.",
    }
)
class AttributesField(serializers.JSONField):
    pass


class ClientSerializer(JsonTypesMixin, serializers.ModelSerializer[Client]):
    vip = serializers.BooleanField(source="is_vip", required=False)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    attributes = AttributesField(required=False)
    identities = serializers.SerializerMethodField()

    class Meta:
        model = Client
        fields = [
            "id",
            "external_id",
            "name",
            "email",
            "phone",
            "vip",
            "language",
            "attributes",
            "identities",
            "created_at",
        ]
        read_only_fields = ["id", "external_id", "language", "identities", "created_at"]

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"provider": {"type": "string"}, "id": {"type": "string"}},
                "required": ["provider", "id"],
            },
        }
    )
    def get_identities(self, obj: Client) -> list[dict[str, str]]:
        return client_identities(obj.external_id)


class ClientNoteSerializer(serializers.ModelSerializer[ClientNote]):
    author_name = serializers.SerializerMethodField()

    class Meta:
        model = ClientNote
        fields = ["id", "client", "author", "author_name", "text", "created_at"]
        read_only_fields = fields

    def get_author_name(self, obj: ClientNote) -> str:
        author = obj.author
        return (author.get_full_name() or author.username) if author else ""
