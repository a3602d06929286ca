"""Chats over REST: conversations, messages, assignments, notifications."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin
from routing_service.chats.models import (
    ChatAssignment,
    ChatNotification,
    Conversation,
    Message,
)
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
            "csat_rating",
            "csat_comment",
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


class MessageSerializer(serializers.ModelSerializer[Message]):
    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "text",
            "sender",
            "sent_at",
            "delivery_status",
            "delivery_attempts",
            "delivery_error",
            "delivered_at",
        ]
        read_only_fields = fields


class ReplySerializer(JsonTypesMixin, serializers.Serializer[Any]):
    text = serializers.CharField(max_length=4096, trim_whitespace=True)


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
        ]
        read_only_fields = fields


class ReasonSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class EscalateSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)
    to_supervisor_id = serializers.IntegerField(required=False, allow_null=True, default=None)


class TransferSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)
    to_agent_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    to_queue = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("to_agent_id") is None) == (not attrs.get("to_queue")):
            raise serializers.ValidationError(
                {"to_agent_id": ["Name either to_agent_id or to_queue: true."]}
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
