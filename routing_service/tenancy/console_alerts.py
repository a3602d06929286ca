"""`GET|POST /accounts/console-alerts/`: the console's sound and desktop-notification switches.

Like the theme toggle, a person's preference stored on their user (tenancy.actions
.set_console_alerts), read by every console they open. JSON both ways: a POST carries the
switches to change (`{"offer_sound": false}`), the answer every switch; a bad key or value is a
400 naming the field. CSRF-protected like every session POST (the console sends its token).
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from routing_service.tenancy import alert_preferences
from routing_service.tenancy.actions import set_console_alerts
from routing_service.tenancy.models import User

MAX_BODY_BYTES = 4096


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def console_alerts(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    if request.method == "GET":
        return JsonResponse(alert_preferences.effective(user.console_alerts))
    if len(request.body) > MAX_BODY_BYTES:
        return JsonResponse({"non_field_errors": ["The body is too large."]}, status=413)
    try:
        change = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"non_field_errors": ["The body is not JSON."]}, status=400)
    try:
        switches = set_console_alerts(user, change)
    except alert_preferences.PreferenceError as exc:
        return JsonResponse(exc.errors, status=400)
    return JsonResponse(switches)
