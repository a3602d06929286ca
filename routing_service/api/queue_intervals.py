"""`/api/v1/metrics/intervals/?queue=&from=&to=&per=`: a queue's (or the company's) history in
15-minute intervals or UTC days, as paginated JSON or CSV (`?format=csv`, or
`/api/v1/metrics/intervals.csv`).

Reads the ``QueueInterval`` rows of the roll-up (analytics.queue_history) — never counts chats
here. Days are sums of their intervals, so they add up exactly. Everyone in the company reads
them (aggregates, no names), as the live metrics.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import Any, Final

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import queue_counters
from analytics.models import QueueInterval
from routing_service.api.filters import ID_MAX, ID_SCHEMA
from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import EVERYONE
from routing_service.api.schema import field_errors
from routing_service.queues.models import Queue
from routing_service.tenancy.models import Company

MAX_RANGE_DAYS: Final = 400
DEFAULT_RANGE: Final = dt.timedelta(days=1)
COLUMNS: Final = (
    "start",
    "end",
    "queue",
    "offered",
    "answered",
    "answered_in_time",
    "abandoned",
    "abandoned_counted",
    "handled",
    "service_level",
    "asa_seconds",
    "aht_seconds",
    "abandonment_rate",
)


class CSVRenderer(BaseRenderer):
    """The rows as CSV, one line per interval, columns as the JSON fields."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        out = io.StringIO()
        if isinstance(data, list):
            writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(data)
        return out.getvalue().encode()


class IntervalQuery(serializers.Serializer[dict[str, Any]]):
    start = serializers.DateTimeField(required=False)
    to = serializers.DateTimeField(required=False)
    queue = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
    per = serializers.ChoiceField(choices=["interval", "day"], required=False, default="interval")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = fields.pop("start")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("to") or timezone.now()
        start = attrs.get("from") or end - DEFAULT_RANGE
        if start > end:
            raise ValidationError({"from": ["Must not be after `to`."]})
        if end - start > dt.timedelta(days=MAX_RANGE_DAYS):
            raise ValidationError({"from": [f"At most {MAX_RANGE_DAYS} days per request."]})
        return {**attrs, "from": start, "to": end}


def _ratio(part: int, whole: int, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def shape(row: dict[str, Any], length: dt.timedelta) -> dict[str, Any]:
    """A row of sums with its ratios (the live metrics' definitions)."""
    judged = row["answered"] + row["abandoned_counted"]
    start = row["start"]
    if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        start = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    return {
        "start": start.isoformat(),
        "end": (start + length).isoformat(),
        "queue": row["queue"],
        **{f: row[f] for f in queue_counters.FIELDS},
        "service_level": _ratio(row["answered_in_time"], judged),
        "asa_seconds": _ratio(row["wait_ms"], row["answered"] * 1000, 1),
        "aht_seconds": _ratio(row["handle_ms"], row["handled"] * 1000, 1),
        "abandonment_rate": _ratio(row["abandoned"], row["answered"] + row["abandoned"]),
    }


class IntervalSerializer(serializers.Serializer[dict[str, Any]]):
    """Documentation of a row (the rows are shaped by `shape`)."""

    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    queue = serializers.IntegerField(allow_null=True, help_text="Null: the whole company.")
    offered = serializers.IntegerField()
    answered = serializers.IntegerField()
    answered_in_time = serializers.IntegerField()
    wait_ms = serializers.IntegerField()
    abandoned = serializers.IntegerField()
    abandoned_counted = serializers.IntegerField(
        help_text="Abandoned chats the queue's policy counts against the service level."
    )
    handled = serializers.IntegerField()
    handle_ms = serializers.IntegerField()
    service_level = serializers.FloatField(allow_null=True)
    asa_seconds = serializers.FloatField(allow_null=True)
    aht_seconds = serializers.FloatField(allow_null=True)
    abandonment_rate = serializers.FloatField(allow_null=True)


class IntervalPageSerializer(serializers.Serializer[dict[str, Any]]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = IntervalSerializer(many=True)


_NO_QUEUE = field_errors("`queue` names no queue of this company (or another company's).")

_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="Default: a day before `to`."),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="Default: now."),
    OpenApiParameter("queue", ID_SCHEMA, description="One queue; default: the whole company."),
    OpenApiParameter(
        "per", {"type": "string", "enum": ["interval", "day"]}, description="15 min or UTC day."
    ),
    OpenApiParameter("format", {"type": "string", "enum": ["json", "csv"]}),
    COMPANY_PARAMETER,
]


@extend_schema_view(
    get=extend_schema(
        tags=["metrics"],
        parameters=_PARAMETERS,
        responses={
            (200, "application/json"): IntervalPageSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            404: _NO_QUEUE,
        },
    )
)
class QueueIntervalsView(CompanyScopedMixin, generics.GenericAPIView[Any]):
    """Offered, answered, abandoned, service level, ASA and AHT per 15-minute interval (or
    UTC day) of a queue or the company, oldest first."""

    serializer_class = IntervalSerializer
    read_roles = EVERYONE
    renderer_classes = [JSONRenderer, CSVRenderer]

    def resolve_company(self, request: Request) -> Company | None:
        """One company's history: a superadmin must name it (the rows of several companies
        would add up to nothing meaningful)."""
        company = super().resolve_company(request)
        if company is None and not self.is_schema_generation:
            raise ValidationError({"company": ["This field is required."]})
        return company

    def handle_exception(self, exc: Exception) -> Response:
        """Errors are JSON whatever the format asked for (DESIGN.md)."""
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = IntervalQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        rows = self.company_rows(QueueInterval).filter(
            start__gte=params["from"], start__lt=params["to"]
        )
        queue_id = params.get("queue")
        if queue_id is not None:
            if not self.company_rows(Queue).filter(pk=queue_id).exists():
                raise NotFound({"queue": ["No such queue in this company."]})
            rows = rows.filter(queue_id=queue_id)
        else:
            rows = rows.filter(queue__isnull=True)
        sums = {f: Sum(f) for f in queue_counters.FIELDS}
        if params["per"] == "day":
            values = (
                rows.annotate(day=TruncDate("start", tzinfo=dt.UTC))
                .values("day")
                .annotate(**sums)
                .order_by("day")
            )
            data = [
                shape({**v, "start": v["day"], "queue": queue_id}, dt.timedelta(days=1))
                for v in values
            ]
        else:
            values = rows.order_by("start").values("start", "queue_id", *queue_counters.FIELDS)
            data = [shape({**v, "queue": v["queue_id"]}, dt.timedelta(minutes=15)) for v in values]
        if request.accepted_renderer.format == "csv":
            name = f"intervals-{params['from']:%Y%m%d}-{params['to']:%Y%m%d}.csv"
            return Response(data, headers={"Content-Disposition": f'attachment; filename="{name}"'})
        page = self.paginate_queryset(data)  # type: ignore[arg-type]  # a list pages as well
        return self.get_paginated_response(page if page is not None else data)


@extend_schema_view(
    get=extend_schema(
        tags=["metrics"],
        parameters=[p for p in _PARAMETERS if p.name != "format"],
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: _NO_QUEUE},
    )
)
class QueueIntervalsCSVView(QueueIntervalsView):
    """The same rows as CSV, all of the range (DESIGN.md: "the interval data as CSV")."""

    # JSON is listed for the errors (handle_exception switches to it), and so in the schema.
    renderer_classes = [CSVRenderer, JSONRenderer]
    pagination_class = None

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # CSV whatever the Accept header asked for; `?format=` may only say csv (or json,
        # which the schema lists because errors are JSON). OPTIONS describes the view in JSON,
        # as on every other path.
        if request.method == "OPTIONS":
            return JSONRenderer(), JSONRenderer.media_type
        if request.query_params.get("format", "csv") not in ("", "csv", "json"):
            raise ValidationError({"format": ["Only `csv` here."]})
        return CSVRenderer(), CSVRenderer.media_type
