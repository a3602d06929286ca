"""Forgotten passwords: Django's reset flow under /accounts/, throttled, revoking on success.

Django's views do the work — a signed, single-use token mailed as a link (it stops working once
the password changes or after ``PASSWORD_RESET_TIMEOUT``), and the same answer whether or not
the address belongs to anyone. Two things are added:

* **Throttling.** Each request for a reset mails someone, so a form open to the world is capped
  per email address (``PER_EMAIL`` an hour: nobody's inbox is flooded) and per client address
  (``PER_CLIENT`` an hour: nobody walks a list of addresses). Refused requests get a 429 with
  the form again; the limits say nothing about whether an address has an account. The counters
  live in the cache (Redis), in fixed one-hour windows; a cache outage fails open.
* **Revocation.** The new password is saved by ``tenancy.actions.change_password`` (the action
  every password change goes through, through ``tenancy.forms.SetPasswordForm``): the user's
  API tokens, websocket tickets and open sockets die with the old password, and their other
  sessions end (Django's session hash covers the password). Whoever held the old password
  keeps nothing.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Final

from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from routing_service.security.addresses import client_address
from routing_service.tenancy.forms import SetPasswordForm

__all__ = [
    "PER_CLIENT",
    "PER_EMAIL",
    "PasswordResetConfirmView",
    "PasswordResetView",
]

logger = logging.getLogger(__name__)

PER_EMAIL: Final = 3
PER_CLIENT: Final = 10
WINDOW_SECONDS: Final = 3600


def _allowed(key: str, limit: int) -> bool:
    """Count one request against ``key``'s hourly window; False once past ``limit``."""
    try:
        cache.add(key, 0, WINDOW_SECONDS)
        return cache.incr(key) <= limit
    except Exception:  # the throttle is a guard, not a dependency: keep resets working
        logger.exception("password reset throttle unavailable")
        return True


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class PasswordResetView(auth_views.PasswordResetView):
    """Step 1: an email address in, a link out (if it has an account), throttled."""

    refused = _("Too many password reset requests. Please try again in an hour.")

    def form_valid(self, form: auth_forms.PasswordResetForm) -> HttpResponse:
        request: HttpRequest = self.request
        email = form.cleaned_data["email"]
        # The address as the login throttle reads it (TRUSTED_PROXY_COUNT: never a forgeable
        # X-Forwarded-For entry).
        client = str(client_address(request) or "unknown")
        # Both counters move on every request, so neither limit can be dodged via the other.
        by_email = _allowed(f"password-reset:email:{_digest(email)}", PER_EMAIL)
        by_client = _allowed(f"password-reset:client:{_digest(client)}", PER_CLIENT)
        if not (by_email and by_client):
            form.add_error(None, self.refused)
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Step 2: the link's token checked, a new password set (and the old one's access ended)."""

    form_class = SetPasswordForm
