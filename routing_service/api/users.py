"""`/api/v1/users/`: a company's staff.

Everyone in a company reads its roster (agents pick transfer targets from it, supervisors watch
it, viewers read); company admins create and change their own company's users; superadmins
anyone's. `DELETE` deactivates: assignments and messages point at their author for good.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import ADMINS, EVERYONE
from routing_service.api.schema import field_errors
from routing_service.api.serializers.users import PreferencesSerializer, UserSerializer
from routing_service.tenancy import actions
from routing_service.tenancy.models import User

_TAGS = ["users"]


@extend_schema_view(
    list=extend_schema(tags=_TAGS, parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(tags=_TAGS, parameters=[COMPANY_PARAMETER]),
    create=extend_schema(tags=_TAGS),
    update=extend_schema(tags=_TAGS),
    partial_update=extend_schema(tags=_TAGS),
    destroy=extend_schema(
        tags=_TAGS,
        description="Deactivates the user (they keep their history).",
        responses={204: None, 400: field_errors("You cannot deactivate yourself.")},
    ),
    me=extend_schema(
        tags=_TAGS,
        description=(
            "The caller's own profile. Anyone may PATCH their own `language` and `time_zone`; "
            "the answer is the whole profile."
        ),
        methods=["GET"],
        responses=UserSerializer,
    ),
)
class UserViewSet(CompanyScopedMixin, viewsets.ModelViewSet[User]):
    """A company's staff. Everyone in the company reads the roster; company admins create and
    change their own company's users (never superadmins); `password` is write-only."""

    serializer_class = UserSerializer
    read_roles = EVERYONE
    write_roles = ADMINS
    filterset_fields = ["role", "status", "is_active"]

    def get_queryset(self) -> QuerySet[User]:
        if self.is_schema_generation:
            return User.objects.none()
        users = User.objects.all()
        if self.company is not None:
            users = users.filter(company=self.company)
        return users.order_by("username", "id")

    def perform_create(self, serializer: UserSerializer) -> None:  # type: ignore[override]
        data: dict[str, Any] = dict(serializer.validated_data)
        serializer.instance = actions.create_user(**data)

    def perform_update(self, serializer: UserSerializer) -> None:  # type: ignore[override]
        assert serializer.instance is not None
        data: dict[str, Any] = dict(serializer.validated_data)
        serializer.instance = actions.update_user(serializer.instance, **data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = self.get_object()
        if user.pk == self.caller.pk:
            raise ValidationError({"non_field_errors": ["You cannot deactivate yourself."]})
        actions.deactivate_user(user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["get"])
    def me(self, request: Request) -> Response:
        return Response(self.get_serializer(self.caller).data)

    @extend_schema(
        tags=_TAGS,
        description="Change the caller's own language and time zone (any role).",
        request=PreferencesSerializer,
        responses={200: UserSerializer},
    )
    @me.mapping.patch
    def update_me(self, request: Request) -> Response:
        serializer = PreferencesSerializer(self.caller, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = actions.set_preferences(self.caller, **serializer.validated_data)
        return Response(self.get_serializer(user).data)

    def get_permissions(self) -> Any:
        if self.action == "update_me":
            # One's own preferences are no administration: every role may set them.
            return [IsAuthenticated()]
        return super().get_permissions()
