"""`/api/v1/conversations/`, `/assignments/`, `/agents/<id>/status/`, `/notifications/`.

Thin: validate, call one action of `routing_service.chats.actions`, serialize. The same
actions serve the websocket, so REST and socket follow the same rules.
"""

from __future__ import annotations

from typing import Any, cast

import django_filters
from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from routing_service.api.filters import ApiFilterSet, IdFilter, MultipleChoiceFilter
from routing_service.api.mixins import CompanyScopedMixin
from routing_service.api.monitoring import (
    TakeOverSerializer,
    WhisperRequestSerializer,
    WhisperSerializer,
    visible_whispers,
    whisper_response,
)
from routing_service.api.permissions import EVERYONE
from routing_service.api.serializers.chats import (
    AgentStatusAnswerSerializer,
    AgentStatusSerializer,
    AssignmentSerializer,
    ConversationSerializer,
    EscalateSerializer,
    MessageSerializer,
    NotificationSerializer,
    ReasonSerializer,
    ReplySerializer,
    TransferSerializer,
)
from routing_service.api.serializers.workspace import ConversationLabelsSerializer, NoteSerializer
from routing_service.chats import actions
from routing_service.chats.actions import monitoring as monitoring_actions
from routing_service.chats.actions.agents import agent_status_data
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentStatus,
    ChatAssignment,
    ChatNotification,
    Conversation,
    ConversationLabel,
    ConversationStatus,
    Priority,
)
from routing_service.tenancy.models import Role

# Everyone who works chats; viewers and company admins read, supervisors and agents act.
CHAT_WORKERS = frozenset({Role.SUPERADMIN, Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.AGENT})


class ActionRefused(APIException):
    """An `ActionError` as a JSON answer with its status, code and the field at fault."""

    def __init__(self, error: actions.ActionError) -> None:
        super().__init__(detail=cast(dict[str, Any], error.as_dict()), code=error.code)
        self.status_code = error.status


def run(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except actions.ActionError as error:
        raise ActionRefused(error) from error


class ConversationFilter(ApiFilterSet):
    status = MultipleChoiceFilter(choices=ConversationStatus.choices)
    priority = MultipleChoiceFilter(choices=Priority.choices)
    assigned_to = IdFilter(field_name="assigned_to")
    client = IdFilter(field_name="client_id")
    queue = IdFilter(field_name="queue_id", label="Chats in this queue (by id)")
    label = django_filters.CharFilter(
        method="filter_label", label="Chats with this label (by name)"
    )

    class Meta:
        model = Conversation
        fields = ["status", "priority", "assigned_to", "client", "label"]

    def filter_label(self, qs: QuerySet[Conversation], name: str, value: str) -> Any:
        # Through the join rows' (label, conversation) index; an unknown name filters to nothing.
        return qs.filter(
            pk__in=ConversationLabel.objects.unscoped()
            .filter(label__name=value, label__company_id=OuterRef("company_id"))
            .values("conversation_id")
        )


def with_active_assignment(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate each chat with its active assignment (at most one: a DB constraint)."""
    active = ChatAssignment.objects.unscoped().filter(
        conversation=OuterRef("pk"), status__in=ACTIVE_ASSIGNMENT_STATUSES
    )
    return conversations.annotate(
        assignment_id=Subquery(active.values("pk")[:1]),
        assigned_to=Subquery(active.values("agent_id")[:1]),
        assignment_status=Subquery(active.values("status")[:1]),
    )


class ConversationViewSet(CompanyScopedMixin, viewsets.ReadOnlyModelViewSet[Conversation]):
    """The company's chats, newest first; `messages/` lists a transcript or posts a reply."""

    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    read_roles = EVERYONE
    write_roles = CHAT_WORKERS

    def get_queryset(self) -> QuerySet[Conversation]:
        rows = self.company_rows(Conversation).select_related("client", "channel")
        return with_active_assignment(rows).order_by("-created_at", "-pk")

    @extend_schema(methods=["GET"], responses=MessageSerializer(many=True))
    @extend_schema(methods=["POST"], request=ReplySerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk: str | None = None) -> Response:
        conversation = self.get_object()
        if request.method == "GET":
            messages = conversation.messages.order_by("sent_at", "pk").prefetch_related(
                "attachments"
            )
            page = self.paginate_queryset(messages)
            return self.get_paginated_response(MessageSerializer(page, many=True).data)
        body = ReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = run(
            actions.send_agent_reply,
            conversation.pk,
            self.caller,
            body.validated_data["text"],
            attachment_ids=body.validated_data["attachment_ids"],
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=NoteSerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: str | None = None) -> Response:
        """An internal note: staff only, never sent to the customer; `@username` of a colleague
        notifies them (`notification` and `mention` events)."""
        conversation = self.get_object()
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = run(actions.add_note, conversation.pk, self.caller, body.validated_data["text"])
        return Response(MessageSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConversationLabelsSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def labels(self, request: Request, pk: str | None = None) -> Response:
        """Set the chat's labels to exactly these names (the company's labels)."""
        conversation = self.get_object()
        body = ConversationLabelsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run(
            actions.set_conversation_labels,
            conversation.pk,
            self.caller,
            body.validated_data["labels"],
        )
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(methods=["GET"], responses=WhisperSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=WhisperRequestSerializer, responses={201: WhisperSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def whisper(self, request: Request, pk: str | None = None) -> Response:
        """A supervisor's private note to the agent handling the chat (never sent to the
        customer); `GET` lists the whispers the caller may read."""
        conversation = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(visible_whispers(conversation, self.caller))
            return self.get_paginated_response(WhisperSerializer(page, many=True).data)
        body = WhisperRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        whisper = run(
            monitoring_actions.send_whisper,
            conversation.pk,
            self.caller,
            body.validated_data["text"],
        )
        return whisper_response(whisper)

    @extend_schema(request=TakeOverSerializer, responses=AssignmentSerializer)
    @action(detail=True, methods=["post"], url_path="take-over", url_name="take-over")
    def take_over(self, request: Request, pk: str | None = None) -> Response:
        """A supervisor takes the chat from its agent (or from the queue), accepted at once."""
        conversation = self.get_object()
        body = TakeOverSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignment = run(
            monitoring_actions.take_over,
            conversation.pk,
            self.caller,
            reason=body.validated_data["reason"],
        )
        return Response(AssignmentSerializer(assignment).data)

    @extend_schema(request=None, responses=AssignmentSerializer)
    @action(detail=True, methods=["post"])
    def pick(self, request: Request, pk: str | None = None) -> Response:
        """Take a waiting chat from the queue (manual routing), or accept its offer to you."""
        conversation = self.get_object()
        assignment = run(actions.pick_conversation, conversation.pk, self.caller)
        return Response(AssignmentSerializer(assignment).data)


class AssignmentFilter(ApiFilterSet):
    status = django_filters.ChoiceFilter(choices=AssignmentStatus.choices)
    agent = IdFilter(field_name="agent_id")
    conversation = IdFilter(field_name="conversation_id")

    class Meta:
        model = ChatAssignment
        fields = ["status", "agent", "conversation"]


class AssignmentViewSet(CompanyScopedMixin, viewsets.ReadOnlyModelViewSet[ChatAssignment]):
    """Assignments and their actions: the same rules as over the websocket."""

    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter
    read_roles = EVERYONE
    write_roles = CHAT_WORKERS

    def get_queryset(self) -> QuerySet[ChatAssignment]:
        return self.company_rows(ChatAssignment).order_by("-offered_at", "-pk")

    def _act(self, func: Any, pk: str | None, **kwargs: Any) -> Response:
        assignment = self.get_object()  # 404 for another company's assignment
        result = run(func, assignment.pk, self.caller, **kwargs)
        return Response(AssignmentSerializer(result).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        return self._act(actions.accept_assignment, pk)

    @extend_schema(request=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(actions.decline_assignment, pk, reason=body.validated_data["reason"])

    @extend_schema(request=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(actions.resolve_assignment, pk, reason=body.validated_data["reason"])

    @extend_schema(request=EscalateSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, pk: str | None = None) -> Response:
        body = EscalateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(actions.escalate_assignment, pk, **body.validated_data)

    @extend_schema(request=TransferSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str | None = None) -> Response:
        body = TransferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(actions.transfer_assignment, pk, **body.validated_data)


class AgentStatusView(CompanyScopedMixin, APIView):
    """`POST /api/v1/agents/<id>/status/ {status}`: yourself, or anyone as a supervisor."""

    # Also what `OPTIONS` describes.
    serializer_class = AgentStatusSerializer
    read_roles = EVERYONE
    write_roles = CHAT_WORKERS

    @extend_schema(request=AgentStatusSerializer, responses={200: AgentStatusAnswerSerializer})
    def post(self, request: Request, agent_id: int) -> Response:
        body = AgentStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        agent = run(
            actions.set_agent_status, agent_id, body.validated_data["status"], actor=self.caller
        )
        return Response(agent_status_data(agent))


class NotificationViewSet(
    CompanyScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet[ChatNotification]
):
    """The caller's unread and urgent notifications (dismissed ones are hidden)."""

    serializer_class = NotificationSerializer
    read_roles = EVERYONE
    write_roles = EVERYONE

    def get_queryset(self) -> QuerySet[ChatNotification]:
        if self.is_schema_generation:
            return ChatNotification.objects.none()
        return (
            self.company_rows(ChatNotification)
            .filter(recipient=self.caller, dismissed_at__isnull=True)
            .select_related("client")
            .order_by("-last_message_at", "-pk")
        )

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str | None = None) -> Response:
        # `pk` is digits (the route's lookup_value_regex); the action answers 404 for an id
        # that is not the caller's notification.
        notification = run(actions.dismiss_notification, self.caller, int(pk or 0))
        return Response(NotificationSerializer(notification).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        """Mark the chat as read: zero the unread and urgent counts."""
        notification = self.get_object()
        if notification.conversation_id is not None:
            run(actions.mark_read, self.caller, conversation_id=notification.conversation_id)
        notification.refresh_from_db()
        return Response(NotificationSerializer(notification).data)
