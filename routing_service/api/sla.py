"""`/api/v1/sla-policies/`: one SLA policy per company and priority.

Everyone in the company reads them (agents see the targets they work to); admins write.
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import ADMINS, EVERYONE
from routing_service.api.serializers.sla import SLAPolicySerializer
from routing_service.chats.models import PRIORITY_RANK
from sla_engine.models import ChatSLA

_TAGS = ["sla-policies"]
# Lists read low → urgent rather than alphabetically.
_PRIORITY_ORDER = Case(
    *(When(priority=p, then=Value(rank)) for p, rank in PRIORITY_RANK.items()),
    output_field=IntegerField(),
)


@extend_schema_view(
    list=extend_schema(tags=_TAGS, parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(tags=_TAGS, parameters=[COMPANY_PARAMETER]),
    create=extend_schema(tags=_TAGS),
    update=extend_schema(tags=_TAGS),
    partial_update=extend_schema(tags=_TAGS),
    destroy=extend_schema(tags=_TAGS),
)
class SLAPolicyViewSet(CompanyScopedMixin, viewsets.ModelViewSet[ChatSLA]):
    """SLA targets per priority (one policy per company and priority), in business minutes on
    the policy's calendar. Everyone in the company reads; company admins write."""

    serializer_class = SLAPolicySerializer
    read_roles = EVERYONE
    write_roles = ADMINS
    filterset_fields = ["priority", "queue"]

    def get_queryset(self) -> QuerySet[ChatSLA]:
        return self.company_rows(ChatSLA).order_by("company_id", _PRIORITY_ORDER, "id")
