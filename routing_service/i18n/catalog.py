"""`/jsi18n/<lang>/`: Django's JavaScriptCatalog for one language, cacheable for good.

The pages load it as a plain (non-inline, CSP-friendly) script before their modules; it
defines `window.gettext`, `ngettext`, `interpolate` and the locale's formats, which
frontend_static/i18n.js hands to the ES modules. The language is in the path, not taken from
the request, so one URL always means one catalogue, and the `?v=` the pages add changes
whenever a catalogue does (a deploy): browsers cache it for a year.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.views.i18n import JavaScriptCatalog

ONE_YEAR = 365 * 24 * 3600


@functools.cache
def catalog_version() -> str:
    """A short hash of every compiled catalogue shipped in LOCALE_PATHS."""
    digest = hashlib.sha256()
    for root in settings.LOCALE_PATHS:
        for path in sorted(Path(root).glob("*/LC_MESSAGES/*.mo")):
            digest.update(path.as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class LanguageCatalog(JavaScriptCatalog):
    domain = "djangojs"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        language = kwargs.pop("language", "")
        if language not in {code for code, _name in settings.LANGUAGES}:
            raise Http404("No such language.")
        with translation.override(language):
            response = super().get(request, *args, **kwargs)
        response["Content-Language"] = language
        if request.GET.get("v") == catalog_version():
            patch_cache_control(response, public=True, max_age=ONE_YEAR, immutable=True)
        else:
            patch_cache_control(response, public=True, max_age=300)
        return response
