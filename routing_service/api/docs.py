"""`/api/schema/` and `/api/docs/`: the OpenAPI schema and Swagger UI, for whom `API_DOCS_ACCESS`
says (`staff` by default; `authenticated`, `public` or `off`).

The schema lists every endpoint and field of the installation, which is reconnaissance for an
attacker: by default only logged-in staff (superadmins and company admins) read it.

Swagger UI is drf-spectacular's *split* view: the page loads its start-up script from a URL of
its own instead of inlining it, so it runs under a Content-Security-Policy without
`'unsafe-inline'` scripts.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def docs_allowed(user: Any) -> bool:
    """Whether `user` (None or anonymous: nobody logged in) may read the schema and docs."""
    access = settings.API_DOCS_ACCESS
    if access == "public":
        return True
    authenticated = bool(user is not None and user.is_authenticated)
    if access == "authenticated":
        return authenticated
    if access == "staff":
        return authenticated and bool(user.is_staff)
    return False


class DocsAccess(BasePermission):
    message = "The API documentation is for staff accounts."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if settings.API_DOCS_ACCESS == "off":
            raise Http404
        return docs_allowed(request.user)


class SchemaView(SpectacularAPIView):
    permission_classes = [DocsAccess]


class SwaggerView(SpectacularSwaggerSplitView):
    permission_classes = [DocsAccess]

    def handle_exception(self, exc: Exception) -> Response:
        # A page for people: someone not logged in is sent to log in and comes back here.
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())  # type: ignore[return-value]
        return super().handle_exception(exc)
