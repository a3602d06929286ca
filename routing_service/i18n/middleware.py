"""Activates a signed-in user's own language and time zone for the request.

Django's LocaleMiddleware (earlier in MIDDLEWARE) has already chosen the browser's language
(the switcher's cookie, else Accept-Language); a user who chose a language in their profile
gets it instead, on every device. The time zone is the user's, else their company's, else UTC:
templates then show every datetime in it, and the pages hand it to their scripts
(`<html data-time-zone>`), which format with Intl in the same zone.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from routing_service.i18n.zones import is_time_zone
from routing_service.tenancy.models import User


def supported_language(code: str) -> bool:
    return code in {lang for lang, _name in settings.LANGUAGES}


def user_language(user: object) -> str | None:
    """The language the user chose in their profile, if any (and still offered)."""
    code = getattr(user, "language", "") or ""
    return code if supported_language(code) else None


def user_time_zone(user: object) -> str:
    """The user's zone, else their company's, else the site's (UTC)."""
    if isinstance(user, User):
        if user.time_zone and is_time_zone(user.time_zone):
            return user.time_zone
        company = user.company
        if company is not None and company.time_zone and is_time_zone(company.time_zone):
            return company.time_zone
    return str(settings.TIME_ZONE)


class UserLocaleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in and (code := user_language(user)):
            translation.activate(code)
            request.LANGUAGE_CODE = code
        zone = user_time_zone(user) if signed_in else str(settings.TIME_ZONE)
        timezone.activate(zoneinfo.ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
