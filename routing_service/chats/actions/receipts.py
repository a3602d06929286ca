"""Provider status events (delivery and read receipts, edits) recorded on known messages."""

from __future__ import annotations

from routing_service.chats.message_keys import message_id_for
from routing_service.chats.models import DeliveryStatus, Message
from routing_service.ingest.adapters.base import StatusEvent

# Receipts only move a message forward: a late "sent" never undoes "read".
_ORDER = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


def record_status_event(channel_id: int, event: StatusEvent) -> bool:
    """Apply a receipt or edit to the message it names; unknown messages are ignored.

    Returns whether anything changed.
    """
    # By the key table (one index look-up), then by id: messages are partitioned by month.
    message_id = message_id_for(channel_id, event.provider_message_id)
    message = (
        Message.objects.unscoped().filter(pk=message_id).first() if message_id is not None else None
    )
    if message is None:
        return False
    if event.status == "edited":
        edits = list(message.metadata.get("edits", []))
        edits.append({"at": event.at.isoformat() if event.at else None, "raw": event.raw})
        message.metadata = {**message.metadata, "edits": edits[-20:]}
        message.save(update_fields=["metadata"])
        return True
    status = {"undelivered": DeliveryStatus.FAILED}.get(event.status, event.status)
    if status not in _ORDER or _ORDER[DeliveryStatus(status)] <= _ORDER.get(
        DeliveryStatus(message.delivery_status), -1
    ):
        return False
    message.delivery_status = status
    fields = ["delivery_status"]
    if status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ) and message.delivered_at is None:
        message.delivered_at = event.at
        fields.append("delivered_at")
    message.save(update_fields=fields)
    return True
