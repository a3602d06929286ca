"""`POST /accounts/theme/`: the colour-scheme toggle of every page (switchboard/theme_toggle.html).

A plain form post (`theme`, `next`) that comes back to the page it was sent from, so it works
without JavaScript; frontend_static/js/theme.js sends the same form with `Accept:
application/json` and switches the page in place (a console keeps its socket). The choice is
stored on the user (`tenancy.actions.set_theme`), and base.html writes it on `<html
data-theme>` when it draws a page: no script decides the colours before the first paint.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from routing_service.tenancy.actions import set_theme
from routing_service.tenancy.models import Theme, User


class ThemeForm(forms.Form):
    theme = forms.ChoiceField(
        choices=Theme.choices,
        error_messages={
            "required": _("Choose a colour scheme: system, light or dark."),
            "invalid_choice": _("Choose a colour scheme: system, light or dark."),
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe and target.startswith("/") else "/"


@require_POST
@login_required
def theme(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = ThemeForm(request.POST)
    if not form.is_valid():
        if _wants_json(request):
            return JsonResponse(form.errors, status=400)
        for error in form.errors.get_json_data()["theme"]:
            messages.error(request, error["message"])
        return HttpResponseRedirect(_back(request))
    set_theme(user, form.cleaned_data["theme"])
    if _wants_json(request):
        return JsonResponse({"theme": user.theme})
    return HttpResponseRedirect(_back(request))
