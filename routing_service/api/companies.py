"""`/api/v1/companies/`: tenants, for superadmins only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated

from routing_service.api.pagination import StandardPagination
from routing_service.api.permissions import SUPERADMIN_ONLY, RolePermission
from routing_service.api.serializers.companies import CompanySerializer
from routing_service.tenancy import actions
from routing_service.tenancy.models import Company


@extend_schema_view(
    list=extend_schema(tags=["companies"]),
    retrieve=extend_schema(tags=["companies"]),
    create=extend_schema(
        tags=["companies"], description="Creates the company and its default routing policy."
    ),
    update=extend_schema(tags=["companies"]),
    partial_update=extend_schema(tags=["companies"]),
)
class CompanyViewSet(viewsets.ModelViewSet[Company]):
    """Companies are never deleted over the API (that would cascade through every chat);
    deactivate one with `is_active: false`."""

    queryset = Company.objects.all().order_by("name", "id")
    serializer_class = CompanySerializer
    permission_classes = [IsAuthenticated, RolePermission]
    read_roles = SUPERADMIN_ONLY
    write_roles = SUPERADMIN_ONLY
    pagination_class = StandardPagination
    parser_classes = [JSONParser]
    lookup_value_regex = "[0-9]+"
    filterset_fields = ["is_active", "slug"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def perform_create(self, serializer: CompanySerializer) -> None:  # type: ignore[override]
        data = serializer.validated_data
        company = actions.create_company(data["name"], data["slug"], data.get("time_zone") or "UTC")
        if data.get("is_active") is False:
            company = actions.update_company(company, is_active=False)
        serializer.instance = company

    def perform_update(self, serializer: CompanySerializer) -> None:  # type: ignore[override]
        assert serializer.instance is not None
        serializer.instance = actions.update_company(
            serializer.instance, **serializer.validated_data
        )
