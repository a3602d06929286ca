"""The admin site: Django's, with its own "change my password" page saving through the action.

`AdminSite.password_change` hard-codes Django's form, whose save would change the password
without revoking the API tokens and sockets issued under the old one. Installed as the default
site (through routing_service/security/admin_site.py, which adds the login throttle) by
`routing_service.security.apps.SwitchboardAdminConfig`, so `admin.site` and every
`@admin.register` use it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from routing_service.tenancy.forms import AdminSelfPasswordChangeForm


class SwitchboardAdminSite(admin.AdminSite):
    site_header = "Switchboard administration"
    site_title = "Switchboard admin"
    index_title = "Companies, people, channels, SLAs and routing"

    def password_change(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        """Django's own view and template (AdminSite.password_change), with our form."""
        defaults: dict[str, Any] = {
            "form_class": AdminSelfPasswordChangeForm,
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        response = PasswordChangeView.as_view(**defaults)(request)
        return response  # type: ignore[return-value]  # a TemplateResponse or a redirect, as Django's
