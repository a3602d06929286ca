"""Django's admin app with Switchboard's admin site as `admin.site`; it also registers the
security settings' system checks (the security package is no app of its own)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class SwitchboardAdminConfig(AdminConfig):
    default_site = "routing_service.security.admin_site.AdminSite"

    def ready(self) -> None:
        super().ready()
        from routing_service.security import checks  # noqa: F401  (registers the checks)
