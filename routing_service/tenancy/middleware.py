"""Puts the user's company on the request and makes it the active tenant for the ORM."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from routing_service.tenancy.context import active_company


class CompanyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        company = None
        if user is not None and user.is_authenticated:
            company = user.company  # None for a superadmin: they see every company.
        request.company = company  # type: ignore[attr-defined]
        with active_company(company):
            return self.get_response(request)
