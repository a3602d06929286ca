"""The language switcher and the preferences page.

The switcher posts to Django's `set_language` (CSRF-checked; it sets the language cookie and
redirects back); for a signed-in user the choice is also saved in their profile, since the
profile wins over the cookie on every later request (i18n/middleware.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from routing_service.i18n.forms import PreferencesForm
from routing_service.i18n.middleware import supported_language
from routing_service.tenancy.actions import set_preferences
from routing_service.tenancy.models import User


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    response = django_set_language(request)
    code = request.POST.get("language", "")
    user = request.user
    if isinstance(user, User) and supported_language(code) and user.language != code:
        set_preferences(user, language=code)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    company_zone = user.company.time_zone if user.company else "UTC"
    initial = {"language": user.language, "time_zone": user.time_zone}
    form = PreferencesForm(request.POST or None, initial=initial, company_time_zone=company_zone)
    if request.method == "POST" and form.is_valid():
        set_preferences(
            user,
            language=form.cleaned_data["language"],
            time_zone=form.cleaned_data["time_zone"],
        )
        # The page after the redirect speaks the new language; say so in it.
        if user.language:
            translation.activate(user.language)
        messages.success(request, _("Your preferences are saved."))
        return redirect("preferences")
    return render(request, "switchboard/preferences.html", {"form": form})
