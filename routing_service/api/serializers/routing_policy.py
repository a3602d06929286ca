"""A company's routing settings."""

from __future__ import annotations

from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin
from routing_service.chats.models import Priority, RoutingPolicy, RoutingStrategy


class RoutingPolicySerializer(JsonTypesMixin, serializers.ModelSerializer[RoutingPolicy]):
    strategy = serializers.ChoiceField(choices=RoutingStrategy.choices)
    offer_timeout_seconds = serializers.IntegerField(
        min_value=5, max_value=3600, help_text="How long an agent has to accept an offer."
    )
    urgent_keywords = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=200,
        help_text="Words or phrases that make a chat urgent (case-insensitive, whole words).",
    )
    vip_priority = serializers.ChoiceField(choices=Priority.choices)
    skill_fallback_seconds = serializers.IntegerField(
        min_value=0,
        max_value=86_400,
        help_text="After this wait a chat needing a skill or language goes to any agent.",
    )
    abandon_after_minutes = serializers.IntegerField(
        min_value=0,
        max_value=43_200,
        help_text="A waiting chat silent this long is abandoned; 0 never.",
    )
    decline_cooldown_seconds = serializers.IntegerField(
        min_value=0,
        max_value=86_400,
        required=False,
        help_text=(
            "A declined chat is not offered to the same agent again for this long, even when "
            "nobody else can take it (they may still pick it themselves); 0 no cool-down."
        ),
    )

    class Meta:
        model = RoutingPolicy
        fields = [
            "company",
            "strategy",
            "offer_timeout_seconds",
            "urgent_keywords",
            "vip_priority",
            "skill_fallback_seconds",
            "abandon_after_minutes",
            "decline_cooldown_seconds",
            "updated_at",
        ]
        read_only_fields = ["company", "updated_at"]

    def validate_urgent_keywords(self, value: list[str]) -> list[str]:
        """Trimmed, lower-cased, first occurrence kept: matching ignores case anyway."""
        seen: dict[str, None] = {}
        for keyword in value:
            cleaned = " ".join(keyword.split()).lower()
            if cleaned:
                seen.setdefault(cleaned, None)
        return list(seen)
