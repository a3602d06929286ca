"""Short-lived signed URLs for attachments.

Two kinds, with different salts so one can never be used as the other:

* **agent** URLs (`/attachments/<token>/`): the company id and attachment id are inside the
  signature; the view also requires a logged-in user of that company. Valid for
  `ATTACHMENT_URL_TTL_SECONDS`.
* **public** URLs (`PUBLIC_BASE_URL/attachments/public/<token>/`): for providers that fetch a
  file themselves (Twilio's `MediaUrl`, WhatsApp's `link`) and generic callbacks. No login, so
  the token is the whole credential: valid for `ATTACHMENT_PUBLIC_URL_TTL_SECONDS`.

Tokens are `django.core.signing` (HMAC with SECRET_KEY, timestamped), checked with `max_age`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

AGENT_SALT = "switchboard.attachments.agent"
PUBLIC_SALT = "switchboard.attachments.public"


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: this attachment of this company."""

    company_id: int
    attachment_id: int


class BadToken(Exception):
    """Forged, malformed or expired; `expired` tells the two apart for the answer."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _dumps(company_id: int, attachment_id: int, salt: str) -> str:
    return signing.dumps({"c": company_id, "a": attachment_id}, salt=salt, compress=False)


def _loads(token: str, salt: str, max_age: int) -> Grant:
    try:
        value = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise BadToken(expired=True) from None
    except signing.BadSignature:
        raise BadToken(expired=False) from None
    if not isinstance(value, dict):
        raise BadToken(expired=False)
    company, attachment = value.get("c"), value.get("a")
    if not isinstance(company, int) or not isinstance(attachment, int):
        raise BadToken(expired=False)
    return Grant(company, attachment)


def agent_url(company_id: int, attachment_id: int) -> str:
    """A site-relative URL for staff of the company (the console's `<img src>`)."""
    token = _dumps(company_id, attachment_id, AGENT_SALT)
    return reverse("attachment-file", kwargs={"token": token})


def public_url(company_id: int, attachment_id: int) -> str:
    """An absolute URL under PUBLIC_BASE_URL that a provider may fetch without logging in."""
    token = _dumps(company_id, attachment_id, PUBLIC_SALT)
    return settings.PUBLIC_BASE_URL + reverse("attachment-public", kwargs={"token": token})


def read_agent_token(token: str) -> Grant:
    return _loads(token, AGENT_SALT, settings.ATTACHMENT_URL_TTL_SECONDS)


def read_public_token(token: str) -> Grant:
    return _loads(token, PUBLIC_SALT, settings.ATTACHMENT_PUBLIC_URL_TTL_SECONDS)
