"""`/api/v1/metrics/?window=&queue=`: the live numbers (analytics.live_metrics), and
`/api/v1/metrics/daily/?from=&to=`: the daily chat metrics (ChatResponseTracking rows).

Live metrics are the company's, for everyone in it (as the daily company rows): aggregates
with no names in them. A superadmin names the company (`?company=`, required for them).

Rows are filled by the roll-up (analytics/metrics.py), never counted here. By default the
company's own rows (one per day); `?agent=<id>` gives one agent's, `?per_agent=true` every
agent's. Everyone in the company reads the company rows; agents see only their own agent
rows, supervisors and admins (and viewers, who watch dashboards) everyone's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import live_metrics
from analytics.models import ChatResponseTracking
from analytics.queue_targets import targets_of_company_queue
from routing_service.api.filters import ID_MAX, ID_SCHEMA
from routing_service.api.mixins import (
    COMPANY_PARAMETER,
    CompanyScopedMixin,
    company_from_query,
    company_id_from_query,
)
from routing_service.api.permissions import EVERYONE
from routing_service.api.schema import field_errors
from routing_service.tenancy.models import Company, Role

# Longest range one request may ask for (a year of days, plus a leap day).
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


class DailyMetricsSerializer(serializers.ModelSerializer[ChatResponseTracking]):
    class Meta:
        model = ChatResponseTracking
        fields = [
            "date",
            "company",
            "agent",
            *ChatResponseTracking.FIGURES,
            "updated_at",
        ]
        read_only_fields = fields


class DailyMetricsQuery(serializers.Serializer[dict[str, Any]]):
    """The query string, validated: field errors come back as JSON like every other 400."""

    # `from` is a Python keyword: the field is renamed below.
    start = serializers.DateField(required=False, input_formats=["iso-8601"])
    to = serializers.DateField(required=False, input_formats=["iso-8601"])
    agent = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
    per_agent = serializers.BooleanField(required=False, default=False)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["from"] = fields.pop("start")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("to") or timezone.now().astimezone(dt.UTC).date()
        start = attrs.get("from") or end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if start > end:
            raise ValidationError({"from": ["Must not be after `to`."]})
        if (end - start).days >= MAX_RANGE_DAYS:
            raise ValidationError({"from": [f"At most {MAX_RANGE_DAYS} days per request."]})
        return {**attrs, "from": start, "to": end}


_PARAMETERS = [
    OpenApiParameter(
        "from", OpenApiTypes.DATE, description="First day (UTC); default 29 days before `to`."
    ),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (UTC); default today."),
    OpenApiParameter("agent", ID_SCHEMA, description="One agent's rows."),
    OpenApiParameter("per_agent", OpenApiTypes.BOOL, description="Every agent's rows."),
    COMPANY_PARAMETER,
]


@extend_schema_view(get=extend_schema(tags=["metrics"], parameters=_PARAMETERS))
class DailyMetricsView(CompanyScopedMixin, generics.ListAPIView[ChatResponseTracking]):
    """Daily chats, first-response and resolution times, SLA compliance, escalations and
    abandoned chats, per company and per agent, oldest day first."""

    serializer_class = DailyMetricsSerializer
    read_roles = EVERYONE

    def get_queryset(self) -> QuerySet[ChatResponseTracking]:
        rows = self.company_rows(ChatResponseTracking)
        if self.is_schema_generation:
            return rows
        query = DailyMetricsQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        rows = rows.filter(date__gte=params["from"], date__lte=params["to"])
        agent = params.get("agent")
        if self.caller.role == Role.AGENT and (agent or params["per_agent"]):
            agent = self.caller.pk  # an agent's own figures only
        if agent is not None:
            rows = rows.filter(agent_id=agent)
        elif params["per_agent"]:
            rows = rows.filter(agent__isnull=False)
        else:
            rows = rows.filter(agent__isnull=True)
        return rows.order_by("date", "company_id", "agent_id")


# --- live --------------------------------------------------------------------------------------


class LiveMetricsQuery(serializers.Serializer[dict[str, Any]]):
    window = serializers.IntegerField(
        required=False,
        default=live_metrics.DEFAULT_WINDOW_MINUTES,
        min_value=1,
        max_value=live_metrics.MAX_WINDOW_MINUTES,
    )
    queue = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)


class AgentsByStatusSerializer(serializers.Serializer[dict[str, Any]]):
    """Active agents and supervisors in each status (DESIGN.md: bare counts)."""

    available = serializers.IntegerField()
    away = serializers.IntegerField()
    offline = serializers.IntegerField()


class AgentLoadSerializer(serializers.Serializer[dict[str, int]]):
    active_chats = serializers.IntegerField(help_text="Chats they hold (offered or accepted).")
    capacity = serializers.IntegerField(help_text="The sum of their `max_chats`.")


class AgentsLoadSerializer(serializers.Serializer[dict[str, Any]]):
    available = AgentLoadSerializer()
    away = AgentLoadSerializer()
    offline = AgentLoadSerializer()


class ForecastSerializer(serializers.Serializer[dict[str, Any]]):
    arrival_rate_per_hour = serializers.FloatField(help_text="`offered` per hour of the window.")
    handle_seconds = serializers.FloatField(
        allow_null=True, help_text="The window's AHT; null when no chat was resolved in it."
    )
    required_agents = serializers.IntegerField(
        allow_null=True,
        help_text="Agents needed for the service-level target (Erlang C, one server per chat "
        "slot); null without a handle time.",
    )
    available_agents = serializers.IntegerField(help_text="Agents available now.")
    expected_service_level = serializers.FloatField(
        allow_null=True, help_text="Expected with the available agents' slots (0–1)."
    )
    expected_wait_seconds = serializers.FloatField(
        allow_null=True,
        help_text="Expected mean wait with the available agents' slots; null when the queue "
        "would grow without bound (or without a handle time).",
    )


class QueueRefSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class LiveMetricsSerializer(serializers.Serializer[dict[str, Any]]):
    queue = QueueRefSerializer(
        required=False, help_text="With `?queue=`: the queue these numbers are for."
    )
    computed_at = serializers.DateTimeField()
    window_minutes = serializers.IntegerField()
    service_level_seconds = serializers.IntegerField(help_text="Answered within this: in time.")
    service_level_target = serializers.FloatField(help_text="The forecast's target (0–1).")
    waiting = serializers.IntegerField(help_text="Chats in the queue now.")
    longest_wait_seconds = serializers.FloatField(help_text="The oldest waiting chat's wait.")
    offered = serializers.IntegerField(help_text="Chats that arrived in the window.")
    answered = serializers.IntegerField(help_text="Chats first answered in the window.")
    abandoned = serializers.IntegerField(
        help_text="Chats abandoned in the window without an answer."
    )
    service_level = serializers.FloatField(
        allow_null=True, help_text="Answered in time / (answered + abandoned), 0–1."
    )
    asa_seconds = serializers.FloatField(
        allow_null=True, help_text="Mean wait from arrival to first answer."
    )
    aht_seconds = serializers.FloatField(
        allow_null=True, help_text="Mean first answer to resolution of chats resolved."
    )
    abandonment_rate = serializers.FloatField(
        allow_null=True, help_text="Abandoned / (answered + abandoned), 0–1."
    )
    occupancy = serializers.FloatField(
        allow_null=True, help_text="Chats held / capacity of the available agents, 0–1."
    )
    agents = AgentsByStatusSerializer()
    agents_load = AgentsLoadSerializer(help_text="Per status: chats held and capacity.")
    forecast = ForecastSerializer()


_LIVE_PARAMETERS = [
    OpenApiParameter(
        "queue",
        ID_SCHEMA,
        description="One queue of the company (its id); default: the whole company.",
    ),
    OpenApiParameter(
        "window",
        {"type": "integer", "minimum": 1, "maximum": live_metrics.MAX_WINDOW_MINUTES},
        description="The rolling window in minutes (default 60).",
    ),
    OpenApiParameter(
        "company",
        ID_SCHEMA,
        OpenApiParameter.QUERY,
        description="Superadmin only, and required for them.",
    ),
]


@extend_schema_view(
    get=extend_schema(
        tags=["metrics"],
        parameters=_LIVE_PARAMETERS,
        responses={
            200: LiveMetricsSerializer,
            404: field_errors("`queue` names no queue of this company (or another company's)."),
        },
    )
)
class LiveMetricsView(CompanyScopedMixin, generics.GenericAPIView[Any]):
    """The company's live numbers over a rolling window: the queue, service level, ASA, AHT,
    abandonment, occupancy, agents by status, and the staffing forecast (Erlang C)."""

    serializer_class = LiveMetricsSerializer
    read_roles = EVERYONE
    pagination_class = None

    def resolve_company(self, request: Request) -> Company | None:
        if not self.caller.is_superadmin:
            company_id_from_query(request)  # a malformed one is refused, as the schema says
            return self.caller.company
        company = company_from_query(request)
        if company is None:
            raise ValidationError({"company": ["This field is required."]})
        return company

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = LiveMetricsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        assert self.company is not None
        params = query.validated_data
        queue = None
        if "queue" in params:
            queue = targets_of_company_queue(self.company.pk, params["queue"])
            if queue is None:  # another company's queue is as unknown as a missing one
                raise NotFound({"queue": ["No such queue in this company."]})
        payload = live_metrics.live_metrics(self.company.pk, params["window"], queue=queue)
        return Response(LiveMetricsSerializer(payload).data)
