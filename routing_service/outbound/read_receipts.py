"""Outbound read receipts: the dramatiq actor that tells WhatsApp "the business read this".

Enqueued by `chats.actions.read_receipts.queue_read_receipt` after it claimed the message
(metadata `read_receipt: "queued"`), so a message gets one receipt however often its chat is
opened. Each run re-reads the message and does nothing unless it is still "queued"; the request
goes through the same guarded HTTP client as replies (outbound/transport.py: public addresses
only, or `OUTBOUND_ALLOWED_HOSTS`; no redirects). A transient failure (connection, 429, 5xx,
Meta's transient codes) is retried a few times; anything else is final and recorded — a receipt
is a courtesy, never worth an agent's attention.
"""

from __future__ import annotations

import logging

import dramatiq
from django.db import transaction

from routing_service.chats.actions.read_receipts import RECEIPT_KEY
from routing_service.chats.models import Channel, Message, Provider
from routing_service.outbound.clients import DeliveryError, RetryableError
from routing_service.outbound.clients.base import execute, failure, http_client
from routing_service.outbound.clients.whatsapp import WhatsAppClient, read_receipt_request

logger = logging.getLogger(__name__)

QUEUE = "outbound"


@dramatiq.actor(queue_name=QUEUE, max_retries=4, min_backoff=2_000, max_backoff=60_000)
def send_read_receipt(message_id: int) -> None:
    """Send the read receipt of one claimed customer message (see the module docstring)."""
    message = Message.objects.unscoped().filter(pk=message_id).first()
    if message is None or message.metadata.get(RECEIPT_KEY) != "queued":
        return
    channel = Channel.objects.unscoped().get(pk=message.channel_id)
    if channel.provider != Provider.WHATSAPP or not channel.is_active:
        _record(message_id, "skipped")
        return
    try:
        request = read_receipt_request(channel.config, message.provider_message_id or "")
        response = execute(http_client(), request)
        if not 200 <= response.status_code < 300:
            raise failure(WhatsAppClient(), response, request.sensitive)
    except RetryableError as exc:
        logger.info("read receipt of message %s failed, will retry: %s", message_id, exc)
        raise dramatiq.Retry(str(exc)) from None
    except DeliveryError as exc:
        logger.warning("read receipt of message %s failed for good: %s", message_id, exc)
        _record(message_id, "failed")
        return
    _record(message_id, "sent")


def _record(message_id: int, outcome: str) -> None:
    with transaction.atomic():
        message = Message.objects.unscoped().select_for_update().filter(pk=message_id).first()
        if message is not None:
            message.metadata = {**message.metadata, RECEIPT_KEY: outcome}
            message.save(update_fields=["metadata"])
