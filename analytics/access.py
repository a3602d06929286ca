"""Who may open the analytics pages and the chat dashboard, and for which company.

Roles decide whether a page opens at all (an agent gets a readable 403 page: sessions hold
every customer's transcript across the company); the company decides which rows exist — a
data source, dashboard or session of another company is a 404, never a 403, so its existence
is not revealed. This mirrors the API's rules (``analytics.api``).

A superadmin belongs to no company: they name one with ``?company=<id>`` on every page (the
links of these pages carry it along); without it they get a chooser.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from analytics.api import ANALYTICS_READERS, ANALYTICS_WRITERS
from routing_service.tenancy.context import active_company
from routing_service.tenancy.models import Company, Role, User
from routing_service.tenancy.pages import CHAT_DASHBOARD_ROLES

__all__ = [
    "ANALYTICS_READERS",
    "ANALYTICS_WRITERS",
    "CHAT_DASHBOARD_ROLES",
    "company_page",
    "company_query",
    "page_company",
]

# Readers and writers are the API's (analytics.api): the pages and the API agree. Who may open
# which page is decided once, in tenancy.pages (navigation shows the same).

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


def page_company(request: HttpRequest) -> Company:
    """The company a page shows (set by ``company_page``)."""
    company: Company = request.analytics_company  # type: ignore[attr-defined]
    return company


def company_query(request: HttpRequest) -> str:
    """``company=<id>`` for a superadmin's links and forms; empty for everyone else."""
    return cast(str, getattr(request, "analytics_company_query", ""))


def forbidden(request: HttpRequest, allowed: frozenset[str]) -> HttpResponse:
    labels = [label for value, label in Role.choices if value in allowed]
    return render(request, "analytics/forbidden.html", {"allowed_roles": labels}, status=403)


def _chooser(request: HttpRequest) -> HttpResponse:
    companies = Company.objects.order_by("name")
    params = request.GET.copy()
    params.pop("company", None)
    choices = []
    for company in companies:
        params["company"] = str(company.pk)
        choices.append({"company": company, "url": f"{request.path}?{params.urlencode()}"})
    return render(request, "analytics/choose_company.html", {"choices": choices})


def _superadmin_company(request: HttpRequest) -> Company | None:
    # Only the query string: reading a POST body here would parse an upload before its size
    # limit is installed (see analytics.uploads). Forms post to URLs that carry ?company=.
    raw = request.GET.get("company", "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise Http404("No such company.")
    company = Company.objects.filter(pk=int(raw)).first()
    if company is None:
        raise Http404("No such company.")
    return company


def company_page(roles: frozenset[str]) -> Callable[[_View], _View]:
    """Decorate a page view: sign-in required, ``roles`` only (else 403), and the company
    resolved, put on the request and made the active tenant for the view's queries."""

    def decorate(view: _View) -> _View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            assert isinstance(user, User)
            if user.role not in roles:
                return forbidden(request, roles)
            if user.is_superadmin:
                company = _superadmin_company(request)
                if company is None:
                    return _chooser(request)
                request.analytics_company_query = f"company={company.pk}"  # type: ignore[attr-defined]
            else:
                company = user.company
                if company is None:  # a company role without a company: nothing to show
                    return forbidden(request, roles)
            request.analytics_company = company  # type: ignore[attr-defined]
            with active_company(company):
                return view(request, *args, **kwargs)

        return cast(_View, wrapper)

    return decorate
