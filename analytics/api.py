"""`/api/v1/data-sources/`, `/api/v1/sessions/` and `/api/v1/sessions/export.csv`.

Who may do what (the company scope of `CompanyScopedMixin` decides which rows exist: another
company's data source or session is a 404, never a 403):

* company admins and supervisors read, upload and delete data sources, and read and export
  sessions — analytics is the supervisors' tool;
* viewers read and export, but neither upload nor delete;
* agents get 403 everywhere here: sessions hold every customer's transcript, contact details
  and IP address across the company, while an agent's work is their own chats (the console);
* a superadmin reads every company's rows, or one company's with `?company=`, and names the
  company (form field `company`) when uploading.

Views only parse, authorise and shape answers: uploads and deletes are `analytics.actions`,
filters `analytics.filters`, CSV cells `analytics.exports`.
"""

from __future__ import annotations

from typing import Any, Final

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, mixins, status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from analytics import actions
from analytics.csv_parser import COLUMNS
from analytics.exports import csv_chunks, csv_response, format_cell
from analytics.filters import SessionFilterSet
from analytics.models import ChatSession, DataSource
from analytics.serializers import (
    DataSourceSerializer,
    DataSourceUploadSerializer,
    SessionDetailSerializer,
    SessionSerializer,
)
from analytics.uploads import SizeLimitHandler, UploadTooLarge, check_content_length, limit_uploads
from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import SUPERVISORS
from routing_service.chats.label_queries import labels_cell
from routing_service.db.replica import reading_from_replica
from routing_service.tenancy.pages import ANALYTICS_ROLES

__all__ = [
    "ANALYTICS_READERS",
    "ANALYTICS_WRITERS",
    "DataSourceViewSet",
    "SessionExportView",
    "SessionViewSet",
]

ANALYTICS_READERS: Final = ANALYTICS_ROLES  # who may open the analytics pages, too
ANALYTICS_WRITERS: Final = SUPERVISORS
EXPORT_CHUNK_SIZE: Final = 2000


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The file is too large."
    default_code = "too_large"


def _too_large(exc: UploadTooLarge) -> PayloadTooLarge:
    return PayloadTooLarge({"file": [str(exc)]})


@extend_schema_view(
    list=extend_schema(tags=["analytics"], parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(tags=["analytics"], parameters=[COMPANY_PARAMETER]),
    create=extend_schema(
        tags=["analytics"],
        request={"multipart/form-data": DataSourceUploadSerializer},
        responses={
            201: DataSourceSerializer,
            413: OpenApiResponse(description="The file is over CSV_IMPORT_MAX_BYTES."),
        },
        description="Upload a CSV of chat sessions; it is imported in the background. Poll "
        "the data source for `status`, `bytes_processed` and the import report.",
    ),
    destroy=extend_schema(
        tags=["analytics"],
        description="Deletes the data source, its sessions and its file (409 for the live "
        "conversations feed).",
    ),
)
class DataSourceViewSet(
    CompanyScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[DataSource],
):
    """Uploaded CSV files (and the live conversations feed) with their import reports."""

    serializer_class = DataSourceSerializer
    parser_classes = [MultiPartParser, FormParser]
    read_roles = ANALYTICS_READERS
    write_roles = ANALYTICS_WRITERS
    filterset_fields = ["kind", "status"]
    _upload_limit: SizeLimitHandler | None = None

    def get_queryset(self) -> QuerySet[DataSource]:
        return self.company_rows(DataSource).order_by("-created_at", "-id")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":
            # Before anything (even a CSRF check) can read the body.
            self._upload_limit = limit_uploads(request._request)
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            try:
                check_content_length(request._request)
            except UploadTooLarge as exc:
                raise _too_large(exc) from None

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data  # parses the body, through the size limit
        if self._upload_limit is not None and self._upload_limit.exceeded:
            raise _too_large(UploadTooLarge(self._upload_limit.limit))
        upload = DataSourceUploadSerializer(data=data, context=self.get_serializer_context())
        upload.is_valid(raise_exception=True)
        try:
            source = actions.create_data_source(
                company=upload.validated_data["company"],
                upload=upload.validated_data["file"],
                name=upload.validated_data.get("name", ""),
                created_by=self.caller,
            )
        except UploadTooLarge as exc:
            raise _too_large(exc) from None
        return Response(self.get_serializer(source).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            actions.delete_data_source(self.get_object())
        except actions.DataSourceInUse as exc:
            return Response({"non_field_errors": [str(exc)]}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        tags=["analytics"],
        parameters=[COMPANY_PARAMETER],
        description="Chat sessions, newest first, without transcripts. `q` searches the first "
        'message and the transcript (words, "phrases", or, -excluded).',
    ),
    retrieve=extend_schema(tags=["analytics"], parameters=[COMPANY_PARAMETER]),
)
class SessionViewSet(CompanyScopedMixin, viewsets.ReadOnlyModelViewSet[ChatSession]):
    """Imported and live chat sessions; the detail carries the full transcript."""

    read_roles = ANALYTICS_READERS
    write_roles = frozenset()
    filterset_class = SessionFilterSet

    def get_queryset(self) -> QuerySet[ChatSession]:
        sessions = self.company_rows(ChatSession).order_by("-start_time", "-id")
        if self.action == "list":
            sessions = sessions.defer("full_transcript")
        return sessions

    def get_serializer_class(self) -> type[BaseSerializer[ChatSession]]:
        return SessionDetailSerializer if self.action == "retrieve" else SessionSerializer


@extend_schema(
    tags=["analytics"],
    # The list's filters, described as on the list (drf-spectacular only looks for filters on
    # list views unless told to).
    filters=True,
    parameters=[COMPANY_PARAMETER],
    responses={(200, "text/csv"): OpenApiTypes.STR},
    description="The filtered sessions (same filters as the list) as CSV in the import "
    "format, streamed. Cells that a spreadsheet would run as a formula start with `'`.",
)
class SessionExportView(CompanyScopedMixin, generics.GenericAPIView[ChatSession]):
    """`GET /api/v1/sessions/export.csv`: a streamed CSV of the filtered sessions."""

    read_roles = ANALYTICS_READERS
    write_roles = frozenset()
    filterset_class = SessionFilterSet
    pagination_class = None
    serializer_class = SessionSerializer  # for the schema only

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A CSV download answers JSON errors whatever the Accept header asked for.
        return super().perform_content_negotiation(request, force=True)

    def get_queryset(self) -> QuerySet[ChatSession]:
        return self.company_rows(ChatSession).order_by("-start_time", "-id")

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        # From the replica when one is set (routing_service/db/replica.py); the rows are read
        # while the response streams, where csv_response carries this choice.
        with reading_from_replica(request._request):
            return self._export(request)

    def _export(self, request: Request) -> Any:
        sessions = self.filter_queryset(self.get_queryset())
        # The import format, then the live chat's labels (the importer ignores extra columns,
        # so an export still imports).
        rows = sessions.values_list(*COLUMNS, "conversation__labels").iterator(
            chunk_size=EXPORT_CHUNK_SIZE
        )
        chunks = csv_chunks(
            (*COLUMNS, "labels"),
            (
                [*(format_cell(value) for value in row), format_cell(labels_cell(labels))]
                for *row, labels in rows
            ),
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_response(request._request, f"sessions-{stamp}.csv", chunks)
