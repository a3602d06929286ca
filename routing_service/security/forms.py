"""Login forms under the login throttle: the web login and the admin login.

The form is where Django checks a password (`AuthenticationForm.clean` → `authenticate`), so the
throttle wraps exactly that. A locked-out attempt is a form error (code `throttled`) with a
readable message; `throttled_response` turns the page that shows it into a 429 with
`Retry-After`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseBase

from routing_service.security import login_throttle

THROTTLED = "throttled"


class ThrottledAuthenticationForm(AuthenticationForm):
    """The password is checked only when the throttle allows it, and its outcome is counted."""

    retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if self.request is None or not username or not password:
            return super().clean()  # no password is checked: nothing to count
        try:
            attempt = login_throttle.begin(self.request, username)
            try:
                cleaned = super().clean()
            except ValidationError:
                attempt.failed()
                raise
        except login_throttle.LoginLocked as locked:
            self.retry_after = locked.retry_after
            raise ValidationError(locked.message, code=THROTTLED) from None
        attempt.succeeded()
        return cleaned

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


class ThrottledAdminAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    pass


def throttled_response(response: HttpResponseBase, form: Any) -> HttpResponseBase:
    """The login page showing a locked-out form answers 429 Too Many Requests + Retry-After."""
    retry_after = getattr(form, "retry_after", None)
    if retry_after is not None:
        response.status_code = 429
        response["Retry-After"] = str(retry_after)
    return response
