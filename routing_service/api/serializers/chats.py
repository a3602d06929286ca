"""Chats over REST: conversations, messages, assignments, notifications."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin
from routing_service.attachments.payloads import attachment_list
from routing_service.chats.models import (
    ChatAssignment,
    ChatNotification,
    Conversation,
    Message,
)
from routing_service.chats.payloads import ATTACHMENT_COUNT_KEY
from routing_service.tenancy.models import AgentStatus


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    """A chat with its active assignment (annotated by the view in one query)."""

    client = serializers.SerializerMethodField()
    channel = serializers.SerializerMethodField()
    assigned_to = serializers.IntegerField(read_only=True, allow_null=True)
    assignment_id = serializers.IntegerField(read_only=True, allow_null=True)
    assignment_status = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "client",
            "channel",
            "status",
            "priority",
            "assigned_to",
            "assignment_id",
            "assignment_status",
            "first_response_due_at",
            "resolution_due_at",
            "created_at",
            "language",
            "category",
            "subject",
            "queued_at",
            "last_message_at",
            "first_response_at",
            "resolved_at",
            "first_response_met",
            "resolution_met",
            "escalation_level",
            "message_count",
            "labels",
            "csat_rating",
            "csat_comment",
            "queue",
        ]
        read_only_fields = fields

    def get_client(self, obj: Conversation) -> dict[str, Any]:
        client = obj.client
        return {
            "id": client.pk,
            "external_id": client.external_id,
            "name": client.name,
            "email": client.email,
            "phone": client.phone,
            "vip": client.is_vip,
        }

    def get_channel(self, obj: Conversation) -> dict[str, Any]:
        return {"id": obj.channel_id, "name": obj.channel.name, "provider": obj.channel.provider}


class AttachmentDataSerializer(serializers.Serializer[Any]):
    """A message's file (attachments/payloads.py); `url` is signed and short-lived."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["pending", "ready", "failed"])
    error = serializers.CharField(required=False)


class MessageSerializer(serializers.ModelSerializer[Message]):
    attachments = serializers.SerializerMethodField()

    @extend_schema_field(AttachmentDataSerializer(many=True))
    def get_attachments(self, obj: Message) -> list[dict[str, Any]]:
        if not (obj.metadata or {}).get(ATTACHMENT_COUNT_KEY):
            return []
        return attachment_list(obj.attachments.all())  # prefetched by the transcript

    automatic = serializers.SerializerMethodField()

    def get_automatic(self, obj: Message) -> bool:
        """A queue's automatic message (arrival, out of hours), sent by no agent."""
        return isinstance(obj.metadata, dict) and obj.metadata.get("automatic") is True

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "kind",
            "text",
            "sender",
            "sent_at",
            "delivery_status",
            "delivery_attempts",
            "delivery_error",
            "delivered_at",
            "attachments",
            "automatic",
        ]
        read_only_fields = fields


class ReplySerializer(JsonTypesMixin, serializers.Serializer[Any]):
    text = serializers.CharField(
        max_length=4096, trim_whitespace=True, allow_blank=True, required=False, default=""
    )
    attachment_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        max_length=10,
        required=False,
        default=list,
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("text") and not attrs.get("attachment_ids"):
            raise serializers.ValidationError({"text": ["Write a reply or attach a file."]})
        return attrs


class AssignmentSerializer(serializers.ModelSerializer[ChatAssignment]):
    class Meta:
        model = ChatAssignment
        fields = [
            "id",
            "conversation",
            "agent",
            "status",
            "offered_at",
            "offer_expires_at",
            "accepted_at",
            "first_response_at",
            "resolved_at",
            "ended_at",
            "first_response_due_at",
            "resolution_due_at",
            "escalation_level",
            "escalation_reason",
            "end_reason",
            "cooldown_until",
        ]
        read_only_fields = fields


class ReasonSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class EscalateSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)
    to_supervisor_id = serializers.IntegerField(required=False, allow_null=True, default=None)


@extend_schema_field(
    {
        "oneOf": [{"type": "boolean"}, {"type": "integer", "minimum": 1}],
        "description": "true: back to the chat's own queue; a queue id: to that queue.",
    }
)
class QueueTargetField(serializers.Field):
    """`to_queue`: `true` (the chat's own queue, as before named queues) or a queue id."""

    default_error_messages = {"invalid": "Must be true, false or a queue id."}

    def to_internal_value(self, data: Any) -> bool | int:
        if isinstance(data, bool):
            return data
        if isinstance(data, int) and data > 0:
            return data
        self.fail("invalid")
        raise AssertionError  # fail() raises

    def to_representation(self, value: Any) -> Any:
        return value


class TransferSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)
    to_agent_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    to_queue = QueueTargetField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("to_agent_id") is None) == (attrs.get("to_queue") is False):
            raise serializers.ValidationError(
                {"to_agent_id": ["Name either to_agent_id or to_queue (true or a queue id)."]}
            )
        return attrs


class AgentStatusSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=AgentStatus.choices)


class AgentStatusAnswerSerializer(serializers.Serializer[Any]):
    """The agent after the change: `agent_status_data`, as the `agent.status` event carries."""

    agent_id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=AgentStatus.choices)
    active_chats = serializers.IntegerField()
    max_chats = serializers.IntegerField()
    status_changed_at = serializers.DateTimeField(allow_null=True)


class NotificationSerializer(serializers.ModelSerializer[ChatNotification]):
    client_name = serializers.CharField(source="client.name", read_only=True)

    class Meta:
        model = ChatNotification
        fields = [
            "id",
            "client",
            "client_name",
            "conversation",
            "unread_count",
            "urgent_count",
            "last_message_at",
            "last_text",
            "dismissed_at",
        ]
        read_only_fields = fields
