"""Credentials in, tokens and tickets out."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class TokenResponseSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(read_only=True)


class WsTicketResponseSerializer(serializers.Serializer[Any]):
    ticket = serializers.CharField(
        read_only=True, help_text="Pass as ?ticket= on /ws/agent/ or /ws/wallboard/; one use."
    )
    expires_at = serializers.DateTimeField(read_only=True)
