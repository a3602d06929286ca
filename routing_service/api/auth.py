"""Entry points that hand out credentials — the API token and the websocket ticket — and the
one that takes a user's own back."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from realtime.tickets import issue_ticket
from routing_service.api.serializers.auth import (
    ThrottledAuthTokenSerializer,
    TokenResponseSerializer,
    WsTicketResponseSerializer,
)
from routing_service.tenancy import actions
from routing_service.tenancy.models import User

_ERRORS = inline_serializer(
    "FieldErrors",
    fields={
        "non_field_errors": serializers.ListField(child=serializers.CharField(), required=False)
    },
)


_THROTTLED = inline_serializer("Throttled", fields={"detail": serializers.CharField()})


class ObtainTokenView(APIView):
    """`POST {username, password}` → `{token}`: the caller's API token (created once, reused).

    After too many failed attempts (of one username from one address, or from one address in
    all) the answer is 429 with Retry-After until the lock-out ends; the password is then not
    checked. The web and admin logins count towards the same limits.
    """

    # No authentication here: a session cookie must not make this view a CSRF target, and a
    # token is what the caller is asking for.
    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = ThrottledAuthTokenSerializer

    @extend_schema(
        request=ThrottledAuthTokenSerializer,
        responses={200: TokenResponseSerializer, 400: _ERRORS, 429: _THROTTLED},
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = ThrottledAuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


class WsTicketView(APIView):
    """`POST` → `{ticket, expires_at}`: a single-use websocket credential for the caller."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: WsTicketResponseSerializer},
        tags=["auth"],
        description="Valid for WS_TICKET_TTL_SECONDS (default 60 s) and one websocket handshake.",
    )
    def post(self, request: Request) -> Response:
        ticket, expires_at = issue_ticket(request.user)  # type: ignore[arg-type]
        data = WsTicketResponseSerializer({"ticket": ticket, "expires_at": expires_at}).data
        return Response(data)


class RevokeTokensView(APIView):
    """`POST` → 204: the caller's API tokens, websocket tickets and open sockets stop working.

    For a leaked token or a lost device. The password, and so the caller's sessions, stay; a
    new token comes from `POST /api/v1/auth/token/`.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={204: None},
        tags=["auth"],
        description=(
            "Revokes every API token of the caller (including the one of this request), every "
            "websocket ticket issued to them and closes their open websockets with 4401."
        ),
    )
    def post(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)  # IsAuthenticated
        actions.revoke_tokens(user)
        return Response(status=status.HTTP_204_NO_CONTENT)
