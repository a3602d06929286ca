"""The admin site: Switchboard's (its own password page saves through the revoking action:
tenancy/admin_site.py), with its login under the login throttle."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from routing_service.security.forms import ThrottledAdminAuthenticationForm, throttled_response
from routing_service.tenancy.admin_site import SwitchboardAdminSite


class AdminSite(SwitchboardAdminSite):
    login_form = ThrottledAdminAuthenticationForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response: HttpResponse = super().login(request, extra_context)
        # Django's LoginView answers with a TemplateResponse: its form is still at hand.
        context = getattr(response, "context_data", None) or {}
        return throttled_response(response, context.get("form"))
