"""Outbound delivery: one pure client per provider plus the shared HTTP step (`base.deliver`)."""

from .base import (
    ConfigurationError,
    DeliveryError,
    OutboundMessage,
    RetryableError,
    SendResult,
    deliver,
)
from .registry import CLIENTS, client_for

__all__ = [
    "CLIENTS",
    "ConfigurationError",
    "DeliveryError",
    "OutboundMessage",
    "RetryableError",
    "SendResult",
    "client_for",
    "deliver",
]
