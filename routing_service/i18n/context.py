"""Template context for every page: where the browser's message catalogue is."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from routing_service.i18n.catalog import catalog_version


def locale(request: HttpRequest) -> dict[str, str]:
    """`JS_CATALOG_URL`: the JavaScript catalogue of the active language, versioned by the
    compiled catalogues' contents so browsers may keep it for a year."""
    language = translation.get_language() or "en"
    try:
        url = reverse("javascript-catalog", args=[language])
    except NoReverseMatch:  # a URLconf without it (some tests'): the pages fall back to English
        return {"JS_CATALOG_URL": ""}
    return {"JS_CATALOG_URL": f"{url}?v={catalog_version()}"}
