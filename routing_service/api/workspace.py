"""`/api/v1/labels/`, `/canned-responses/`, `/clients/`: the agent's workspace over REST.

Thin: validate, call one action of `routing_service.chats.actions`, serialize. Notes and a
chat's labels are actions on `/conversations/<id>/` (`routing_service.api.chats`).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from routing_service.api.chats import CHAT_WORKERS, run, with_active_assignment
from routing_service.api.filters import ID_MAX, ID_SCHEMA, ApiFilterSet, BooleanFilter
from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import EVERYONE, SUPERVISORS
from routing_service.api.serializers.chats import ConversationSerializer
from routing_service.api.serializers.workspace import (
    CannedResponseSerializer,
    ClientNoteSerializer,
    ClientSerializer,
    LabelSerializer,
    NoteSerializer,
    RenderedSerializer,
)
from routing_service.chats.actions import canned as canned_actions
from routing_service.chats.actions import clients as client_actions
from routing_service.chats.actions import labels as label_actions
from routing_service.chats.models import CannedResponse, Client, Conversation, Label

MAX_QUERY = 200


def _company_id(view: CompanyScopedMixin) -> int:
    """The company a write is for: the caller's, or the one a superadmin names."""
    if view.company is None:
        raise ValidationError({"company": ["Name the company (?company=<id>)."]})
    return view.company.pk


class SearchFilter(django_filters.CharFilter):
    """`?q=`: free text; only its first 200 characters are searched for."""

    def filter(self, qs: Any, value: Any) -> Any:
        return super().filter(qs, value[:MAX_QUERY] if value else value)


# --- labels --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(parameters=[COMPANY_PARAMETER]),
)
class LabelViewSet(CompanyScopedMixin, viewsets.ModelViewSet[Label]):
    """The company's labels. Everyone reads; supervisors and admins manage them. Staff put them
    on chats with `POST /conversations/<id>/labels/`."""

    serializer_class = LabelSerializer
    read_roles = EVERYONE
    write_roles = SUPERVISORS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Label]:
        return self.company_rows(Label).order_by("name", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        label = run(label_actions.create_label, _company_id(self), data["name"], data["color"])
        return Response(self.get_serializer(label).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        label = self.get_object()
        body = self.get_serializer(label, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        label = run(label_actions.update_label, label, **body.validated_data)
        return Response(self.get_serializer(label).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run(label_actions.delete_label, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- canned responses ------------------------------------------------------------------------


class CannedFilter(ApiFilterSet):
    q = SearchFilter(method="filter_q", label="Words in the shortcode, title or text")
    scope = django_filters.ChoiceFilter(
        choices=[("company", "company"), ("personal", "personal")], method="filter_scope"
    )

    class Meta:
        model = CannedResponse
        fields = ["q", "scope"]

    def filter_q(self, qs: QuerySet[CannedResponse], name: str, value: str) -> Any:
        value = value.strip().lstrip("/")
        if not value:
            return qs
        return qs.filter(
            Q(shortcode__icontains=value) | Q(title__icontains=value) | Q(text__icontains=value)
        )

    def filter_scope(self, qs: QuerySet[CannedResponse], name: str, value: str) -> Any:
        return qs.filter(owner__isnull=value == "company")


@extend_schema_view(
    list=extend_schema(parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(parameters=[COMPANY_PARAMETER]),
)
class CannedResponseViewSet(CompanyScopedMixin, viewsets.ModelViewSet[CannedResponse]):
    """Canned responses the caller can use: the company's shared ones and their own (others'
    personal ones do not exist for them). Company admins manage shared ones; everyone their own.
    `?q=` searches shortcode, title and text; shortcodes first."""

    serializer_class = CannedResponseSerializer
    filterset_class = CannedFilter
    read_roles = EVERYONE
    write_roles = EVERYONE
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[CannedResponse]:
        rows = self.company_rows(CannedResponse)
        if not self.is_schema_generation:
            rows = rows.filter(Q(owner__isnull=True) | Q(owner_id=self.caller.pk))
        return rows.order_by("shortcode", "owner_id", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        canned = run(
            canned_actions.create_canned, self.caller, _company_id(self), **body.validated_data
        )
        return Response(self.get_serializer(canned).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        canned = self.get_object()
        body = self.get_serializer(canned, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "scope" in changes and changes.pop("scope") != canned.scope:
            raise ValidationError({"scope": ["The scope is fixed once made."]})
        canned = run(canned_actions.update_canned, self.caller, canned, **changes)
        return Response(self.get_serializer(canned).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run(canned_actions.delete_canned, self.caller, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "conversation",
                ID_SCHEMA,
                description="The chat whose customer `{{client.name}}` names.",
            )
        ],
        responses=RenderedSerializer,
    )
    @action(detail=True, methods=["get"])
    def render(self, request: Request, pk: str | None = None) -> Response:
        """The text with its variables filled in for the caller (and the chat's customer)."""
        canned = self.get_object()
        raw = request.query_params.get("conversation") or ""
        conversation_id = None
        if raw:
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= ID_MAX):
                raise ValidationError({"conversation": ["A valid integer is required."]})
            conversation_id = int(raw)
        text = run(canned_actions.render_for, canned, self.caller, conversation_id)
        return Response({"text": text})


# --- clients -------------------------------------------------------------------------------


class ClientFilter(ApiFilterSet):
    q = SearchFilter(method="filter_q", label="Words in the name, email, phone or identity")
    vip = BooleanFilter(field_name="is_vip")

    class Meta:
        model = Client
        fields = ["q", "vip"]

    def filter_q(self, qs: QuerySet[Client], name: str, value: str) -> Any:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(name__icontains=value)
            | Q(email__icontains=value)
            | Q(phone__icontains=value)
            | Q(external_id__icontains=value)
        )


@extend_schema_view(
    list=extend_schema(parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(parameters=[COMPANY_PARAMETER]),
)
class ClientViewSet(
    CompanyScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Client],
):
    """Customer profiles: name, email, phone, VIP, free-form attributes and provider
    identities. Everyone reads; staff who work chats edit. `conversations/` is their history,
    `notes/` what staff wrote about them."""

    serializer_class = ClientSerializer
    filterset_class = ClientFilter
    read_roles = EVERYONE
    write_roles = CHAT_WORKERS
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Client]:
        return self.company_rows(Client).order_by("name", "pk")

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        body = self.get_serializer(client, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = {
            ("vip" if key == "is_vip" else key): value for key, value in body.validated_data.items()
        }
        client = run(client_actions.update_client, client, changes)
        return Response(self.get_serializer(client).data)

    @extend_schema(responses=ConversationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def conversations(self, request: Request, pk: str | None = None) -> Response:
        """The client's chats, newest first (transcripts: `/conversations/<id>/messages/`)."""
        client = self.get_object()
        rows = with_active_assignment(
            self.company_rows(Conversation).filter(client=client)
        ).select_related("client", "channel")
        page = self.paginate_queryset(rows.order_by("-created_at", "-pk"))
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)

    @extend_schema(methods=["GET"], responses=ClientNoteSerializer(many=True))
    @extend_schema(methods=["POST"], request=NoteSerializer, responses={201: ClientNoteSerializer})
    @action(detail=True, methods=["get", "post"])
    def notes(self, request: Request, pk: str | None = None) -> Response:
        """Notes about the client (newest first); any chat worker adds one."""
        client = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(client.notes.select_related("author").all())
            return self.get_paginated_response(ClientNoteSerializer(page, many=True).data)
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = run(client_actions.add_client_note, client, self.caller, body.validated_data["text"])
        return Response(ClientNoteSerializer(note).data, status=status.HTTP_201_CREATED)
