"""REST for retention: `/api/v1/retention-policy/` (GET, PUT, PATCH; one per company) and
`POST /api/v1/clients/<id>/erase/` (the right to erasure). Company admins only: retention
decides what history exists, erasure cannot be undone.

A superadmin names the company with `?company=<id>` (or `company` in the body), as for the
routing policy.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from routing_service.api.filters import ID_SCHEMA
from routing_service.api.mixins import CompanyScopedMixin, company_from_query, company_named
from routing_service.api.permissions import ADMINS
from routing_service.api.serializers.base import JsonTypesMixin
from routing_service.chats.models import Client
from routing_service.retention.erasure import erase_client
from routing_service.retention.models import MAX_DAYS, MIN_DAYS, RetentionPolicy
from routing_service.tenancy.models import Company

_COMPANY = OpenApiParameter(
    "company",
    ID_SCHEMA,
    OpenApiParameter.QUERY,
    description="Superadmin only, and required for them (or `company` in a PUT/PATCH body).",
)


def _days(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=MIN_DAYS, max_value=MAX_DAYS, help_text=help_text)


class RetentionPolicySerializer(JsonTypesMixin, serializers.ModelSerializer[RetentionPolicy]):
    messages_days = _days("Messages and their attachments are kept this many days.")
    events_days = _days("Assignment events and settled SLA timers are kept this many days.")
    sessions_days = _days("Chat sessions are kept this many days after they started.")

    class Meta:
        model = RetentionPolicy
        fields = ["messages_days", "events_days", "sessions_days", "updated_at"]
        read_only_fields = ["updated_at"]


class _AdminCompanyMixin(CompanyScopedMixin):
    read_roles = ADMINS
    write_roles = ADMINS
    pagination_class = None

    def resolve_company(self, request: Request) -> Company | None:
        if not self.caller.is_superadmin:
            return super().resolve_company(request)
        company = company_from_query(request)
        body = request.data.get("company") if hasattr(request.data, "get") else None
        if company is None and body not in (None, ""):
            company = company_named(body)
        if company is None:
            raise ValidationError({"company": ["This field is required."]})
        return company


_SCHEMA = extend_schema(tags=["retention"], parameters=[_COMPANY])


@extend_schema_view(get=_SCHEMA, put=_SCHEMA, patch=_SCHEMA)
class RetentionPolicyView(_AdminCompanyMixin, generics.RetrieveUpdateAPIView[RetentionPolicy]):
    """The company's retention settings (defaults until first saved)."""

    serializer_class = RetentionPolicySerializer

    def get_object(self) -> RetentionPolicy:
        assert self.company is not None
        policy, _ = RetentionPolicy.objects.for_company(self.company).get_or_create(
            company=self.company
        )
        return policy


class ErasureSerializer(serializers.Serializer[Any]):
    erasure_id = serializers.IntegerField(read_only=True)
    counts = serializers.DictField(child=serializers.IntegerField(), read_only=True)


@extend_schema(tags=["retention"], parameters=[_COMPANY], request=None, responses=ErasureSerializer)
class ClientErasureView(_AdminCompanyMixin, generics.GenericAPIView[Client]):
    """Erase the client's personal data; answers what was removed (no personal data)."""

    serializer_class = ErasureSerializer

    def post(self, request: Request, pk: int) -> Response:
        assert self.company is not None
        client = self.company_rows(Client).filter(pk=pk).first()
        if client is None:
            raise NotFound()
        record, counts = erase_client(self.company, client, by=self.caller)
        return Response({"erasure_id": record.pk, "counts": dict(counts)}, status.HTTP_200_OK)
