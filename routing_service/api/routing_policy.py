"""`/api/v1/routing-policy/`: the company's one routing policy (GET, PUT, PATCH; no id).

Everyone in the company reads it; admins change it. A superadmin names the company with
`?company=<id>` (or a `company` field in a PUT/PATCH body).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from routing_service.api.filters import ID_SCHEMA
from routing_service.api.mixins import (
    CompanyScopedMixin,
    company_from_query,
    company_id_from_query,
    company_named,
)
from routing_service.api.permissions import ADMINS, EVERYONE
from routing_service.api.serializers.routing_policy import RoutingPolicySerializer
from routing_service.chats import provisioning
from routing_service.chats.models import RoutingPolicy
from routing_service.tenancy.models import Company

_COMPANY = OpenApiParameter(
    "company",
    ID_SCHEMA,
    OpenApiParameter.QUERY,
    description="Superadmin only, and required for them (or `company` in a PUT/PATCH body).",
)
_SCHEMA = extend_schema(tags=["routing-policy"], parameters=[_COMPANY])


@extend_schema_view(get=_SCHEMA, put=_SCHEMA, patch=_SCHEMA)
class RoutingPolicyView(CompanyScopedMixin, generics.RetrieveUpdateAPIView[RoutingPolicy]):
    """The company's routing settings. Everyone in the company reads; company admins write."""

    serializer_class = RoutingPolicySerializer
    read_roles = EVERYONE
    write_roles = ADMINS
    pagination_class = None

    def resolve_company(self, request: Request) -> Company | None:
        if not self.caller.is_superadmin:
            company_id_from_query(request)  # a malformed one is refused, as the schema says
            return self.caller.company
        company = company_from_query(request)
        body_company = request.data.get("company") if hasattr(request.data, "get") else None
        if company is None and body_company not in (None, ""):
            company = company_named(body_company)
        if company is None:
            raise ValidationError({"company": ["This field is required."]})
        return company

    def get_object(self) -> RoutingPolicy:
        assert self.company is not None
        policy, _ = RoutingPolicy.objects.for_company(self.company).get_or_create(
            company=self.company
        )
        return policy

    def perform_update(self, serializer: RoutingPolicySerializer) -> None:  # type: ignore[override]
        assert self.company is not None
        data: dict[str, Any] = dict(serializer.validated_data)
        serializer.instance = provisioning.update_routing_policy(self.company, **data)
