"""Outbound delivery: the dramatiq actors that send agents' replies to the providers.

`send_agent_reply` enqueues `deliver_message(message_id)` once the reply is committed. Each run
is one attempt: claim the message (`delivery.begin_attempt`), send it through the channel's
client, record the outcome. The actor only decides what the outcome means for dramatiq:

* sent → `mark_sent`;
* a final error (4xx, bad channel config) → `mark_failed(final=True)`, no retry;
* a transient one (connection, timeout, 408/429/5xx) → `mark_failed(final=False)` and raise
  `dramatiq.Retry`, so the Retries middleware retries with exponential backoff (1 s doubling,
  jittered up to twice that, at most 5 min; 8 retries span roughly 4 to 9 minutes) — or after
  the server's `Retry-After` when it sent one (capped at the maximum backoff);
* the last retry failing → dramatiq sends `deliver_message_exhausted`, which fails the message.

Retrying is safe because every run re-reads the message and does nothing unless it is still
pending. A worker killed mid-attempt leaves the task unacknowledged: the broker redelivers it
(Redis: after DRAMATIQ_HEARTBEAT_TIMEOUT_MS and a maintenance pass; RabbitMQ: when the
connection drops) and the redelivered task takes over its own lease (`delivery.py`). Runs on
the "outbound" queue, which `rundramatiq` consumes with the others.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from routing_service.outbound import delivery
from routing_service.outbound.clients import DeliveryError, RetryableError, client_for, deliver
from routing_service.outbound.read_receipts import send_read_receipt

__all__ = ["deliver_message", "send_read_receipt"]  # the module django_dramatiq discovers

logger = logging.getLogger(__name__)

QUEUE = "outbound"
MAX_RETRIES = 8
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 5 * 60_000
# Well above one attempt (15 s of HTTP per part, 50 s per file upload, a few queries), below
# delivery.LEASE_SECONDS.
TIME_LIMIT_MS = 240_000


@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=MAX_RETRIES,
    min_backoff=MIN_BACKOFF_MS,
    max_backoff=MAX_BACKOFF_MS,
    time_limit=TIME_LIMIT_MS,
    on_retry_exhausted="deliver_message_exhausted",
)
def deliver_message(message_id: int) -> None:
    """Make one delivery attempt for an outbound message (see the module docstring)."""
    current = CurrentMessage.get_current_message()
    try:
        outbound = delivery.begin_attempt(
            message_id, task_id=current.message_id if current else None
        )
    except delivery.DeliveryBusy as busy:
        raise dramatiq.Retry(str(busy), delay=_delay_ms(busy.retry_after)) from None
    if outbound is None:
        return
    try:
        result = deliver(
            client_for(outbound.provider),
            outbound,
            on_part=lambda done: delivery.record_part_sent(message_id, done),
        )
    except RetryableError as exc:
        delivery.mark_failed(message_id, str(exc), final=False)
        logger.info("delivery of message %s failed, will retry: %s", message_id, exc)
        raise dramatiq.Retry(str(exc), delay=_delay_ms(exc.retry_after)) from None
    except DeliveryError as exc:
        delivery.mark_failed(message_id, str(exc), final=True)
        logger.warning("delivery of message %s failed for good: %s", message_id, exc)
        return
    except Exception as exc:
        # A bug or a database error: record it, free the lease, let dramatiq retry and log it.
        # Only the exception's type: its text could quote anything, and agents read this.
        delivery.mark_failed(message_id, f"Internal error ({type(exc).__name__}).", final=False)
        raise
    delivery.mark_sent(message_id, result.provider_message_id)


@dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=MIN_BACKOFF_MS)
def deliver_message_exhausted(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """dramatiq's `on_retry_exhausted` callback: `message` is the failed task as a dict."""
    args = message.get("args") or []
    if not args:
        return
    traceback = (message.get("options") or {}).get("traceback") or ""
    lines = [line for line in str(traceback).strip().splitlines() if line.strip()]
    if delivery.give_up(int(args[0]), fallback_error=lines[-1] if lines else ""):
        logger.warning(
            "delivery of message %s failed after %s retries", args[0], retry_info.get("retries")
        )


def _delay_ms(retry_after: float | None) -> int | None:
    """The server's wait as a dramatiq delay, capped like our own backoff; None: backoff."""
    if retry_after is None:
        return None
    cap = int(deliver_message.options.get("max_backoff", MAX_BACKOFF_MS))
    return max(0, min(int(retry_after * 1000), cap))
