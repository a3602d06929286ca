"""Supervisor monitoring and conversation exports over REST.

* `POST /api/v1/conversations/<id>/whisper/ {text}` and `GET` (the whispers the caller may
  read: supervisors and admins all of them, an agent those addressed to them);
* `POST /api/v1/conversations/<id>/take-over/ {reason?}`;
* `GET /api/v1/conversations/<id>/transcript.txt|json|csv` — the transcript, streamed;
* `GET /api/v1/conversations/export.csv` and `GET /api/v1/messages/export.csv` — the company's
  conversations (open ones too) and their messages, streamed CSV, with the conversation list's
  filters plus `from` / `to` (dates of `created_at`, UTC).

Thin: validate, call one action or export function, shape the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.conversation_exports import conversation_csv, message_csv, transcript_chunks
from analytics.exports import stream_response
from routing_service.api.filters import ID_MAX, ID_SCHEMA
from routing_service.api.mixins import CompanyScopedMixin
from routing_service.api.permissions import EVERYONE
from routing_service.chats.label_queries import MAX_LABEL_NAME, with_label
from routing_service.chats.models import Conversation, ConversationStatus, Message, Whisper
from routing_service.tenancy.models import Role

# Company-wide exports: the people who read analytics (agents read only their chats' data).
EXPORT_READERS: Final = frozenset(
    {Role.SUPERADMIN, Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.VIEWER}
)
FORMATS: Final = {
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


class WhisperSerializer(serializers.ModelSerializer[Whisper]):
    class Meta:
        model = Whisper
        fields = ["id", "conversation", "author", "recipient", "text", "created_at"]
        read_only_fields = fields


class WhisperRequestSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=2000, trim_whitespace=True)


class TakeOverSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def visible_whispers(conversation: Conversation, caller: Any) -> QuerySet[Whisper]:
    whispers = Whisper.objects.unscoped().filter(conversation_id=conversation.pk)
    if not caller.can_supervise:
        whispers = whispers.filter(recipient_id=caller.pk)
    return whispers.order_by("created_at", "pk")


class TranscriptExportView(CompanyScopedMixin, generics.GenericAPIView[Conversation]):
    """One conversation's transcript as text, JSON or CSV (streamed)."""

    read_roles = EVERYONE
    write_roles = frozenset()
    pagination_class = None
    serializer_class = WhisperSerializer  # for the schema only

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    def get_queryset(self) -> QuerySet[Conversation]:
        return self.company_rows(Conversation).select_related("client", "channel")

    @extend_schema(
        tags=["conversations"],
        responses={(200, "text/plain"): OpenApiTypes.STR},
        description="The transcript, oldest first: messages (with notes and attachment links "
        "where those exist) and, for supervisors and admins, whispers. CSV cells that a "
        "spreadsheet would run as a formula start with `'`.",
    )
    def get(self, request: Request, pk: int, fmt: str) -> Any:
        if fmt not in FORMATS:
            raise Http404("Formats: txt, json, csv.")
        conversation = self.get_queryset().filter(pk=pk).first()
        if conversation is None:
            raise Http404("No such conversation.")
        chunks = transcript_chunks(conversation, fmt, include_whispers=self.caller.can_supervise)
        filename = f"conversation-{conversation.pk}.{fmt}"
        return stream_response(request._request, filename, chunks, FORMATS[fmt])


_DATE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="created on or after (UTC)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="created on or before (UTC)"),
    OpenApiParameter(
        "status",
        OpenApiTypes.STR,
        many=True,
        enum=[choice for choice, _ in ConversationStatus.choices],
    ),
    OpenApiParameter("channel", ID_SCHEMA),
]


def _date(request: Request, name: str) -> dt.date | None:
    raw = request.query_params.get(name, "")
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: ["Use a date as YYYY-MM-DD."]}) from None


def export_conversations(request: Request, rows: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The conversations an export covers: the filters of the query string, validated."""
    start, end = _date(request, "from"), _date(request, "to")  # from > to: nothing matches
    if start:
        rows = rows.filter(created_at__gte=dt.datetime.combine(start, dt.time.min, dt.UTC))
    if end:
        rows = rows.filter(
            created_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, dt.UTC)
        )
    statuses = [s for s in request.query_params.getlist("status") if s]
    allowed = {choice for choice, _ in Conversation._meta.get_field("status").choices or []}
    bad = [s for s in statuses if s not in allowed]
    if bad:
        raise ValidationError({"status": [f"Unknown status {bad[0]!r}."]})
    if statuses:
        rows = rows.filter(status__in=statuses)
    channel = request.query_params.get("channel", "")
    if channel:
        digits = channel.isascii() and channel.isdigit() and len(channel) <= len(str(ID_MAX))
        if not digits or not 1 <= int(channel) <= ID_MAX:
            raise ValidationError({"channel": ["Must be a channel id (a positive number)."]})
        rows = rows.filter(channel_id=int(channel))  # another company's id: no rows
    label = request.query_params.get("label", "").strip()
    if label:
        if len(label) > MAX_LABEL_NAME:
            raise ValidationError({"label": [f"At most {MAX_LABEL_NAME} characters."]})
        rows = with_label(rows, label)  # the company's own label of that name, or none
    return rows


class _CsvExport(CompanyScopedMixin, generics.GenericAPIView[Any]):
    read_roles = EXPORT_READERS
    write_roles = frozenset()
    pagination_class = None
    serializer_class = WhisperSerializer  # for the schema only

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    def conversations(self, request: Request) -> QuerySet[Conversation]:
        return export_conversations(request, self.company_rows(Conversation))


class ConversationExportView(_CsvExport):
    """Every conversation (open, resolved, abandoned) of the company as CSV, with CSAT."""

    @extend_schema(
        tags=["conversations"],
        parameters=_DATE_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Any:
        rows = self.conversations(request).order_by("created_at", "pk")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return stream_response(
            request._request,
            f"conversations-{stamp}.csv",
            conversation_csv(rows),
            FORMATS["csv"],
        )


class MessageExportView(_CsvExport):
    """Every message of the selected conversations as CSV (one row per message)."""

    @extend_schema(
        tags=["conversations"],
        parameters=_DATE_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Any:
        conversations = self.conversations(request)
        messages = (
            Message.objects.unscoped()
            .filter(conversation__in=conversations.values("pk"))
            .order_by("conversation_id", "sent_at", "pk")
        )
        if self.company is not None:
            messages = messages.filter(company_id=self.company.pk)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return stream_response(
            request._request, f"messages-{stamp}.csv", message_csv(messages), FORMATS["csv"]
        )


def whisper_response(whisper: Whisper) -> Response:
    return Response(WhisperSerializer(whisper).data, status=201)
