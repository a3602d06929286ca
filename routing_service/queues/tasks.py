"""The auto-reply actor: the router enqueues it after committing a new chat (no work on its
hot path); the action re-checks everything under the chat's lock (`auto_reply_actions`)."""

from __future__ import annotations

import dramatiq

from routing_service.queues import auto_reply_actions

__all__ = ["send_auto_reply"]

# The outbound queue: the message it stores is then delivered on the same queue.
QUEUE = "outbound"


@dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=1_000, max_backoff=60_000)
def send_auto_reply(conversation_id: int) -> None:
    """Send the chat's arrival or out-of-hours message if it is still due; retry-safe."""
    auto_reply_actions.send_auto_reply(conversation_id)


def enqueue_auto_replies(conversation_ids: list[int]) -> None:
    """Call after the router's commit: one task per new chat of a queue with auto-replies."""
    for conversation_id in conversation_ids:
        send_auto_reply.send(conversation_id)
