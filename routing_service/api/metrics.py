"""`/api/v1/metrics/daily/?from=&to=`: the daily chat metrics (ChatResponseTracking rows).

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
from rest_framework.exceptions import ValidationError

from analytics.models import ChatResponseTracking
from routing_service.api.filters import ID_MAX, ID_SCHEMA
from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import EVERYONE
from routing_service.tenancy.models import Role

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
