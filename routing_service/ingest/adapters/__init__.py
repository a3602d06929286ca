"""① Webhook ingestion: pure provider adapters, looked up by the `<provider>` URL segment.

The ASGI webhook handler does the I/O (reads the body, finds the channel and its secrets, appends
to the inbound stream); these adapters only check authenticity and normalise. Typical use:

    adapter = ADAPTERS[provider]            # KeyError -> 404
    adapter.verify(req, secrets, time.time())
    result = adapter.parse(req)              # WebhookError subclasses carry their status_code
"""

from .base import (
    PRIORITIES,
    Adapter,
    ChannelSecrets,
    HandshakeAdapter,
    InboundMessage,
    ParseResult,
    PayloadError,
    SignatureError,
    StatusEvent,
    UnsupportedMediaType,
    WebhookError,
    WebhookRequest,
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

__all__ = [
    "ADAPTERS",
    "PRIORITIES",
    "Adapter",
    "ChannelSecrets",
    "GenericAdapter",
    "HandshakeAdapter",
    "InboundMessage",
    "ParseResult",
    "PayloadError",
    "SignatureError",
    "StatusEvent",
    "TelegramAdapter",
    "TwilioAdapter",
    "UnsupportedMediaType",
    "WebhookError",
    "WebhookRequest",
    "WhatsAppAdapter",
    "sign_generic",
    "sign_twilio",
    "sign_whatsapp",
]
