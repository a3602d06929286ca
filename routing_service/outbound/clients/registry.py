"""Outbound delivery: which client sends for which `Channel.provider`."""

from __future__ import annotations

from .base import ConfigurationError, ProviderClient
from .generic import GenericClient
from .telegram import TelegramClient
from .twilio import TwilioClient
from .whatsapp import WhatsAppClient

CLIENTS: dict[str, ProviderClient] = {
    client.provider: client
    for client in (GenericClient(), TwilioClient(), WhatsAppClient(), TelegramClient())
}


def client_for(provider: str) -> ProviderClient:
    try:
        return CLIENTS[provider]
    except KeyError:
        raise ConfigurationError(f"No outbound client for provider {provider!r}.") from None
