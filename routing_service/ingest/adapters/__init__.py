"""① Webhook ingestion: pure provider adapters, looked up by the `<provider>` URL segment.

The ASGI webhook handler does the I/O (reads the body, finds the channel and its secrets, appends
to the inbound stream); these adapters only check authenticity and normalise. Typical use:

    adapter = ADAPTERS[provider]            # KeyError -> 404
    adapter.verify(req, secrets, time.time())
    result = adapter.parse(req)              # WebhookError subclasses carry their status_code

`authenticate` and `parse_request` do the same by provider name and return a `Refusal` instead
of raising: the handler runs them on a worker thread or in a worker process for large bodies
(module-level functions of plain, picklable values; this package imports nothing of Django).
"""

from .base import (
    MALFORMED,
    PRIORITIES,
    Adapter,
    ChannelSecrets,
    HandshakeAdapter,
    InboundMessage,
    ParseResult,
    PayloadError,
    Refusal,
    SignatureError,
    StatusEvent,
    UnsupportedMediaType,
    WebhookError,
    WebhookRequest,
    refusal,
)
from .generic import GenericAdapter, sign_generic
from .telegram import TelegramAdapter
from .twilio import TwilioAdapter, sign_twilio
from .whatsapp import WhatsAppAdapter, sign_whatsapp

ADAPTERS: dict[str, Adapter] = {
    "generic": GenericAdapter(),
    "twilio": TwilioAdapter(),
    "whatsapp": WhatsAppAdapter(),
    "telegram": TelegramAdapter(),
}


def authenticate(
    provider: str, req: WebhookRequest, secrets: ChannelSecrets, now: float
) -> Refusal | None:
    """`verify` by provider name: None if the request is authentic, else the refusal."""
    try:
        ADAPTERS[provider].verify(req, secrets, now)
    except WebhookError as exc:
        return refusal(exc)
    except Exception:  # input a check cannot digest is the sender's fault: 400, never 500
        return MALFORMED
    return None


def parse_request(provider: str, req: WebhookRequest) -> ParseResult | Refusal:
    """`parse` by provider name (call it once `authenticate` said yes)."""
    try:
        return ADAPTERS[provider].parse(req)
    except WebhookError as exc:
        return refusal(exc)
    except Exception:
        # Nesting bombs, bad UTF-8 inside strings...: the sender's fault, 400, never 500.
        return MALFORMED


__all__ = [
    "ADAPTERS",
    "MALFORMED",
    "PRIORITIES",
    "Adapter",
    "ChannelSecrets",
    "GenericAdapter",
    "HandshakeAdapter",
    "InboundMessage",
    "ParseResult",
    "PayloadError",
    "Refusal",
    "SignatureError",
    "StatusEvent",
    "TelegramAdapter",
    "TwilioAdapter",
    "UnsupportedMediaType",
    "WebhookError",
    "WebhookRequest",
    "WhatsAppAdapter",
    "authenticate",
    "parse_request",
    "refusal",
    "sign_generic",
    "sign_twilio",
    "sign_whatsapp",
]
