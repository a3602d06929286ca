"""The company scope every provisioning viewset works in.

Token authentication happens inside the DRF view, after `CompanyMiddleware` has run (it only
sees session users), so the active tenant is set here, in `initial()`, right after DRF has
authenticated the caller and checked their role — and reset when the response is finalised.

The company is the caller's own; a superadmin names one with `?company=<id>` (reads) or a
`company` field (writes) and, naming none, reads every company's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, TypeVar

from drf_spectacular.utils import OpenApiParameter
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.uploads import declare_body_length
from routing_service.api.filters import ID_MAX, ID_SCHEMA
from routing_service.api.pagination import StandardPagination
from routing_service.api.permissions import ADMINS, EVERYONE, RolePermission
from routing_service.tenancy.context import active_company
from routing_service.tenancy.managers import CompanyQuerySet, TenantModel
from routing_service.tenancy.models import Company, User

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

_T = TypeVar("_T", bound=TenantModel)

COMPANY_PARAMETER = OpenApiParameter(
    "company",
    ID_SCHEMA,
    OpenApiParameter.QUERY,
    description=(
        "Superadmin only: the company to act for. Without it a superadmin reads every "
        "company's rows. Ignored for everyone else (they always act for their own company), "
        "though a value that is not an id is refused for everyone."
    ),
)


def company_from_query(request: Request) -> Company | None:
    """The company a superadmin names with `?company=`; None when they name none.

    Raises a field error (400) for an id that is not a company.
    """
    raw = request.query_params.get("company")
    return company_named(raw) if raw else None


def company_id_from_query(request: Request) -> int | None:
    """`?company=` as an id, unchecked against the database; a 400 when it is not one."""
    raw = request.query_params.get("company")
    return _company_id(raw) if raw else None


def _company_id(raw: object) -> int:
    text = str(raw)
    # Bounded before int(): Python refuses to convert strings of more than 4,300 digits.
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= ID_MAX):
        raise ValidationError({"company": ["A valid integer is required."]})
    return int(text)


def company_named(raw: object) -> Company:
    """The company with id `raw` (as sent by a client), or a 400 naming the `company` field."""
    text = str(raw)
    company = Company.objects.filter(pk=_company_id(text)).first()
    if company is None:
        raise ValidationError({"company": [f'Invalid pk "{text}" - object does not exist.']})
    return company


class CompanyScopedMixin(generics.GenericAPIView[Any]):
    """Put first in a view's bases: resolves `self.company` and makes it the active tenant.

    `self.company` is None only for a superadmin who named no company.
    """

    permission_classes: Sequence[_PermissionClass] = [IsAuthenticated, RolePermission]
    # Bodies are JSON (DESIGN.md): form encodings cannot carry the lists and objects these
    # resources hold. Uploads say otherwise on their own view.
    parser_classes: Sequence[type[BaseParser]] = [JSONParser]
    # Every id is a number: anything else is a 404 from the URL resolver, before a view could
    # pass it to int() or the database.
    lookup_value_regex = "[0-9]+"
    pagination_class: type[BasePagination] | None = StandardPagination
    read_roles: frozenset[str] = EVERYONE
    write_roles: frozenset[str] = ADMINS

    company: Company | None = None
    _tenant_scope: ExitStack | None = None

    @property
    def caller(self) -> User:
        user = self.request.user
        assert isinstance(user, User)
        return user

    @property
    def is_schema_generation(self) -> bool:
        """drf-spectacular instantiates views without a request cycle to read their querysets."""
        return bool(getattr(self, "swagger_fake_view", False))

    def company_rows(self, model: type[_T]) -> CompanyQuerySet[_T]:
        """`model.objects.for_company(company)`: the only rows this request can see or touch.

        A superadmin who named no company gets every company's rows.
        """
        if self.is_schema_generation:
            return model.objects.get_queryset().none()
        if self.company is None:
            return model.objects.get_queryset()
        return model.objects.for_company(self.company)

    def resolve_company(self, request: Request) -> Company | None:
        if self.caller.is_superadmin:
            return company_from_query(request)
        company_id_from_query(request)  # a malformed one is refused, as the schema says
        return self.caller.company

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A chunked body (no Content-Length) would read as empty: DRF parses only as much of a
        # body as CONTENT_LENGTH says.
        declare_body_length(request._request)
        super().initial(request, *args, **kwargs)
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            return  # dispatch answers 405, whatever the query string says
        self.company = self.resolve_company(request)
        scope = ExitStack()
        scope.enter_context(active_company(self.company))
        self._tenant_scope = scope

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if self._tenant_scope is not None:
            self._tenant_scope.close()
            self._tenant_scope = None
        return super().finalize_response(request, response, *args, **kwargs)

    def get_serializer_context(self) -> dict[str, Any]:
        context: dict[str, Any] = super().get_serializer_context()
        context["company"] = self.company
        return context
