"""Analytics API shapes: data sources with their import report, chat sessions."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics.actions import NAME_MAX_LENGTH
from analytics.models import ChatSession, DataSource
from routing_service.api.serializers.base import CompanySerializer

REPORT_FIELDS = (
    "id",
    "company",
    "name",
    "kind",
    "status",
    "rows_imported",
    "rows_rejected",
    "duplicates",
    "errors",
    "error",
    "bytes_total",
    "bytes_processed",
    "created_at",
    "started_at",
    "finished_at",
)


class ImportErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """One rejected row (only the first 1,000 are kept; ``rows_rejected`` counts them all)."""

    line = serializers.IntegerField(help_text="Physical line where the record starts (from 1).")
    column = serializers.CharField(
        allow_null=True, help_text="The column at fault; null when the line could not be split."
    )
    reason = serializers.CharField()


class DataSourceSerializer(serializers.ModelSerializer[DataSource]):
    # DRF's metaclass pops declared fields off the class, so `Serializer.errors` still works.
    errors = ImportErrorSerializer(many=True, read_only=True)  # type: ignore[assignment]

    class Meta:
        model = DataSource
        fields = REPORT_FIELDS
        read_only_fields = REPORT_FIELDS


class DataSourceUploadSerializer(CompanySerializer[dict[str, Any]]):
    """``multipart/form-data``: the CSV file (DESIGN.md's columns) and an optional name."""

    file = serializers.FileField(
        allow_empty_file=False,
        help_text="CSV of chat sessions: UTF-8, Latin-1, or UTF-16/32 with a byte-order mark.",
    )
    name = serializers.CharField(
        max_length=NAME_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="Defaults to the file's name.",
    )


SESSION_LIST_FIELDS = (
    "id",
    "company",
    "data_source",
    "conversation",
    "session_id",
    "start_time",
    "end_time",
    "ip_address",
    "country",
    "language",
    "messages_sent",
    "sentiment",
    "escalated",
    "forwarded_hr",
    "avg_response_time",
    "tokens",
    "tokens_eur",
    "category",
    "initial_msg",
    "user_rating",
)


class SessionSerializer(serializers.ModelSerializer[ChatSession]):
    """A session in a list: everything but the transcript."""

    class Meta:
        model = ChatSession
        fields = SESSION_LIST_FIELDS
        read_only_fields = SESSION_LIST_FIELDS


class SessionDetailSerializer(serializers.ModelSerializer[ChatSession]):
    class Meta:
        model = ChatSession
        fields = (*SESSION_LIST_FIELDS, "full_transcript")
        read_only_fields = fields
