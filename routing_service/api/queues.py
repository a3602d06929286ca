"""`/api/v1/queues/` and `/api/v1/queue-rules/`: a company's named queues and the ordered
rules that send inbound chats to them.

Thin: validate the JSON shape, call one action of `routing_service.queues.actions`, serialize.
Company admins write; supervisors (and admins) read. Another company's queue is a 404.
Deleting the default queue is refused (400 naming `is_default`); deleting another queue moves
its open chats to the default queue.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from routing_service.api.chats import run
from routing_service.api.mixins import COMPANY_PARAMETER, CompanyScopedMixin
from routing_service.api.permissions import ADMINS, SUPERVISORS
from routing_service.api.schema import field_errors
from routing_service.api.serializers.queues import QueueRuleSerializer, QueueSerializer
from routing_service.queues import actions
from routing_service.queues.models import DEFAULT_SKILL_LEVEL, Queue, QueueRule


def _company_id(view: CompanyScopedMixin) -> int:
    """The company a write is for: the caller's, or the one a superadmin names."""
    if view.company is None:
        raise ValidationError({"company": ["Name the company (?company=<id>)."]})
    return view.company.pk


def _renamed(data: dict[str, Any], source: str, name: str) -> dict[str, Any]:
    """The actions take the API's field names (`queue`, `overflow_queue`), not the sources."""
    if source in data:
        data[name] = data.pop(source)
    return data


def _members(data: dict[str, Any]) -> list[tuple[int, int]] | None:
    members = data.pop("memberships", None)
    if members is None:
        return None
    # A PATCH leaves nested defaults unapplied: the default level is filled in here.
    return [(m["user_id"], m.get("skill_level", DEFAULT_SKILL_LEVEL)) for m in members]


@extend_schema_view(
    list=extend_schema(parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(parameters=[COMPANY_PARAMETER]),
)
class QueueViewSet(CompanyScopedMixin, viewsets.ModelViewSet[Queue]):
    """The company's queues with their members; every company has one default queue."""

    serializer_class = QueueSerializer
    read_roles = SUPERVISORS
    write_roles = ADMINS
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Queue]:
        return self.company_rows(Queue).prefetch_related("memberships").order_by("name", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = _renamed(dict(body.validated_data), "overflow_queue_id", "overflow_queue")
        members = _members(data)
        queue = run(actions.create_queue, _company_id(self), members=members, **data)
        return Response(self._fresh(queue), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        queue = self.get_object()
        body = self.get_serializer(queue, data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        data = _renamed(dict(body.validated_data), "overflow_queue_id", "overflow_queue")
        members = _members(data)
        queue = run(actions.update_queue, queue, members=members, **data)
        return Response(self._fresh(queue))

    @extend_schema(
        responses={
            204: None,
            400: field_errors("The default queue cannot be deleted (`is_default`)."),
        },
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run(actions.delete_queue, self.get_object(), actor_id=self.caller.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _fresh(self, queue: Queue) -> dict[str, Any]:
        queue = Queue.objects.unscoped().prefetch_related("memberships").get(pk=queue.pk)
        return dict(self.get_serializer(queue).data)


@extend_schema_view(
    list=extend_schema(parameters=[COMPANY_PARAMETER]),
    retrieve=extend_schema(parameters=[COMPANY_PARAMETER]),
)
class QueueRuleViewSet(CompanyScopedMixin, viewsets.ModelViewSet[QueueRule]):
    """The company's queue rules, in the order the router tries them (first match wins)."""

    serializer_class = QueueRuleSerializer
    read_roles = SUPERVISORS
    write_roles = ADMINS
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[QueueRule]:
        return self.company_rows(QueueRule).order_by("order", "pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = _renamed(dict(body.validated_data), "queue_id", "queue")
        rule = run(actions.create_rule, _company_id(self), **data)
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        rule = self.get_object()
        body = self.get_serializer(rule, data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        data = _renamed(dict(body.validated_data), "queue_id", "queue")
        rule = run(actions.update_rule, rule, **data)
        return Response(self.get_serializer(rule).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run(actions.delete_rule, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
