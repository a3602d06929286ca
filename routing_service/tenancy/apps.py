from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class TenancyConfig(AppConfig):
    default = True  # this module also holds the admin's config
    name = "routing_service.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy and accounts"


class SwitchboardAdminConfig(admin_apps.AdminConfig):
    """`django.contrib.admin` with Switchboard's site as `admin.site` (see admin_site.py)."""

    default = False
    default_site = "routing_service.tenancy.admin_site.SwitchboardAdminSite"
