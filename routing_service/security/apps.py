"""App configs: Django's admin app with Switchboard's admin site as `admin.site`."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class SwitchboardAdminConfig(AdminConfig):
    default_site = "routing_service.security.admin_site.AdminSite"
