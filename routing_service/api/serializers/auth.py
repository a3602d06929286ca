"""Credentials in, tokens and tickets out."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer

from routing_service.security import login_throttle


class LoginThrottled(exceptions.Throttled):
    """429 with Retry-After and the lock-out's own message (DRF's would append a second
    "Expected available in N seconds." to it)."""

    def __init__(self, locked: login_throttle.LoginLocked) -> None:
        super().__init__(detail=locked.message)
        self.wait = locked.retry_after


# DRF's `{username, password}` check under the login throttle: locked out, it raises
# LoginThrottled (429 + Retry-After) without checking the password. (A comment, not a
# docstring: the schema would publish it as the request body's description.)
@extend_schema_serializer(component_name="AuthToken")
class ThrottledAuthTokenSerializer(AuthTokenSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attempt = login_throttle.begin(self.context["request"], attrs["username"])
            try:
                validated: dict[str, Any] = super().validate(attrs)
            except serializers.ValidationError:
                attempt.failed()
                raise
        except login_throttle.LoginLocked as locked:
            raise LoginThrottled(locked) from None
        attempt.succeeded()
        return validated


class TokenResponseSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(read_only=True)


class WsTicketResponseSerializer(serializers.Serializer[Any]):
    ticket = serializers.CharField(
        read_only=True, help_text="Pass as ?ticket= on /ws/agent/ or /ws/wallboard/; one use."
    )
    expires_at = serializers.DateTimeField(read_only=True)
