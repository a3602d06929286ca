"""`/api/v1/channels/`: inboxes, each with a generated UUID and the webhook URL to give the
provider. Company admins write; supervisors read (without secrets); agents and viewers get 403
— a channel is configuration, and the chat APIs already name the channel of each conversation.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import ADMINS, SUPERVISORS
from routing_service.api.serializers.channels import ChannelSerializer
from routing_service.chats import provisioning
from routing_service.chats.models import Channel

_TAGS = ["channels"]


@extend_schema_view(
    list=extend_schema(tags=_TAGS, parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(tags=_TAGS, parameters=[COMPANY_PARAMETER]),
    create=extend_schema(tags=_TAGS),
    update=extend_schema(tags=_TAGS),
    partial_update=extend_schema(tags=_TAGS),
    destroy=extend_schema(
        tags=_TAGS,
        description="Deletes a channel that never received a chat; otherwise 409 "
        "(deactivate it with is_active: false).",
    ),
)
class ChannelViewSet(CompanyScopedMixin, viewsets.ModelViewSet[Channel]):
    """Inboxes. `uuid` and `webhook_url` are generated; `secret` is write-only and credentials
    in `config` are masked. Company admins write, supervisors read, other roles get 403."""

    serializer_class = ChannelSerializer
    read_roles = SUPERVISORS
    write_roles = ADMINS
    filterset_fields = ["provider", "is_active"]

    def get_queryset(self) -> QuerySet[Channel]:
        return self.company_rows(Channel).order_by("name", "id")

    def perform_create(self, serializer: ChannelSerializer) -> None:  # type: ignore[override]
        data: dict[str, Any] = dict(serializer.validated_data)
        data.pop("revoke_previous_secret", None)
        serializer.instance = provisioning.create_channel(**data)

    def perform_update(self, serializer: ChannelSerializer) -> None:  # type: ignore[override]
        assert serializer.instance is not None
        data: dict[str, Any] = dict(serializer.validated_data)
        data.pop("company", None)
        serializer.instance = provisioning.update_channel(serializer.instance, **data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            provisioning.delete_channel(self.get_object())
        except provisioning.ChannelInUse:
            return Response(
                {
                    "non_field_errors": [
                        "This channel has conversations; deactivate it (is_active: false) "
                        "instead of deleting it."
                    ]
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)
