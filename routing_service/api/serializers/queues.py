"""Serializers of `/api/v1/queues/` and `/api/v1/queue-rules/`: JSON shapes and types only.

What the values may be (names unique per company, members who take chats, acyclic overflow,
calendars, auto-replies, rule matches) is decided by `routing_service.queues.actions`, so the
API and the admin refuse the same things.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin
from routing_service.chats.models import RoutingStrategy
from routing_service.queues.actions import QUEUE_FIELD_ORDER
from routing_service.queues.models import (
    DEFAULT_SKILL_LEVEL,
    MAX_SKILL_LEVEL,
    MIN_SKILL_LEVEL,
    AbandonedCountAs,
    Queue,
    QueueRule,
)


class QueueMemberSerializer(JsonTypesMixin, serializers.Serializer[Any]):
    user = serializers.IntegerField(
        source="user_id", min_value=1, help_text="An agent or supervisor's id."
    )
    skill_level = serializers.IntegerField(
        min_value=MIN_SKILL_LEVEL,
        max_value=MAX_SKILL_LEVEL,
        default=DEFAULT_SKILL_LEVEL,
        help_text="1–10; higher goes first when the routing strategy ties.",
    )


class QueueSerializer(JsonTypesMixin, serializers.ModelSerializer[Queue]):
    members = QueueMemberSerializer(many=True, required=False, source="memberships")
    strategy = serializers.ChoiceField(
        choices=RoutingStrategy.choices,
        allow_null=True,
        required=False,
        help_text="Null: the company's routing policy.",
    )
    offer_timeout_seconds = serializers.IntegerField(
        allow_null=True, required=False, help_text="Null: the company's routing policy."
    )
    service_level_target = serializers.FloatField(required=False)
    abandoned_count_as = serializers.ChoiceField(
        choices=AbandonedCountAs.choices,
        required=False,
        help_text=(
            "How abandoned chats count in the service level: missed, excluded, or excluded "
            "when abandoned within short_abandon_seconds (short_excluded)."
        ),
    )
    calendar = serializers.JSONField(
        allow_null=True,
        required=False,
        help_text=(
            "Business hours (the SLA policy calendar fields: work_start, work_end, "
            "work_intervals, weekdays, include_weekends, timezone, holiday_country, "
            "holiday_subdivision, holidays); null: the company's."
        ),
    )
    overflow_queue = serializers.IntegerField(
        source="overflow_queue_id",
        allow_null=True,
        required=False,
        help_text="A queue of the same company; no cycles.",
    )
    overflow_after_seconds = serializers.IntegerField(
        allow_null=True, required=False, help_text="Null: never by time."
    )
    auto_reply = serializers.JSONField(
        required=False,
        help_text=("{on_arrival: {enabled, templates: {language: text}}, out_of_hours: {...}}."),
    )

    class Meta:
        model = Queue
        fields = ["id", *QUEUE_FIELD_ORDER, "members", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"required": True}}


class QueueRuleSerializer(JsonTypesMixin, serializers.ModelSerializer[QueueRule]):
    queue = serializers.IntegerField(
        source="queue_id", min_value=1, help_text="A queue of the same company."
    )
    order = serializers.IntegerField(min_value=0, required=False, default=0)
    match = serializers.JSONField(
        required=False,
        help_text=(
            "Every key given must match: channel (id), language, category, keywords (any, in "
            "the first message), vip, attribute {name, value}. First matching rule wins."
        ),
    )

    class Meta:
        model = QueueRule
        fields = ["id", "order", "queue", "match", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
