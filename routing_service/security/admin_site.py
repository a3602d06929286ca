"""The admin site: Django's, with its login under the login throttle."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from routing_service.security.forms import ThrottledAdminAuthenticationForm, throttled_response


class AdminSite(admin.AdminSite):
    login_form = ThrottledAdminAuthenticationForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response: HttpResponse = super().login(request, extra_context)
        # Django's LoginView answers with a TemplateResponse: its form is still at hand.
        context = getattr(response, "context_data", None) or {}
        return throttled_response(response, context.get("form"))
