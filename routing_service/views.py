"""Site pages that belong to no single package: the landing page and JSON error pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from routing_service.api.docs import docs_allowed
from routing_service.security.forms import ThrottledAuthenticationForm, throttled_response
from routing_service.tenancy.models import User
from routing_service.tenancy.pages import pages_for

# The API documentation is open to whoever `docs_allowed` lets in (API_DOCS_ACCESS), not a
# page of tenancy.pages: it follows the roles the setting names.
_API_DOCS = {
    "title": _("API documentation"),
    "url": "/api/docs/",
    "description": _("The REST API and its OpenAPI schema."),
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The start page: a tile per page the person's role may open (tenancy.pages)."""
    user = request.user
    assert isinstance(user, User)
    links: list[dict[str, Any]] = [
        {"title": page.title, "url": page.path, "description": page.description}
        for page in pages_for(user)
    ]
    if docs_allowed(user):
        links.append(_API_DOCS)
    return render(request, "switchboard/home.html", {"links": links})


class LoginView(auth_views.LoginView):
    """`/accounts/login/` under the login throttle: a locked-out attempt gets the form back with
    a readable message, as 429 with Retry-After."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: Any) -> HttpResponse:
        return throttled_response(super().form_invalid(form), form)  # type: ignore[return-value]


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def json_500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return render(request, "500.html", status=500)


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No dependencies on purpose."""
    return JsonResponse({"status": "ok"})
