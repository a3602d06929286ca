"""④ Ephemeral events: live-only signals that are no change's record (`chat.typing`).

"The customer is typing" is worthless a few seconds later and says nothing the database
keeps. Sending it through the outbox and the durable log would cost an outbox row, a company
seq and a log entry per keystroke burst, and a reconnecting console would replay stale
"typing…" indicators. So it takes the lighter path: one PUBLISH straight to the groups'
channel-layer channels (the same channels and message packing the log script uses), no seq,
no log, no replay. A consumer sends it as an unlogged frame carrying the socket's current
seq (like `ack`), so "keep the highest seq" stays right for clients. Lost signals are fine:
the console's indicator expires on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import msgpack

from events.log import encode_data, envelope_parts, group_channel, live_group, log_client
from events.redis_clients import REDIS_ERRORS, cluster_enabled
from events.schema import Event

logger = logging.getLogger(__name__)

# The consumer handler (`StreamConsumer.sb_ephemeral`) the channel layer dispatches to.
MESSAGE_TYPE = "sb.ephemeral"


def publish_ephemeral(events: Iterable[Event]) -> int:
    """PUBLISH each event to its groups' live channels; returns how many messages went out.

    Best effort: a Redis failure is logged and swallowed (the signal is not worth failing the
    action or the router batch that raised it).
    """
    client, _script = log_client()
    messages: list[tuple[str, bytes]] = []
    for event in events:
        head, tail = envelope_parts(event.type, event.id, event.at, encode_data(event.data))
        # The consumer puts its own seq in: the envelope travels split around it.
        packed = msgpack.packb({"type": MESSAGE_TYPE, "head": head, "tail": tail})
        messages += [
            (group_channel(live_group(event.company_id, group)), packed) for group in event.groups
        ]
    if not messages:
        return 0
    try:
        if cluster_enabled():
            # Sharded pub/sub: each channel carries its slot's hash tag; the client routes it.
            for channel, packed in messages:
                client.spublish(channel, packed)
        else:
            pipe = client.pipeline(transaction=False)
            for channel, packed in messages:
                pipe.publish(channel, packed)
            pipe.execute()
    except REDIS_ERRORS:
        logger.warning("an ephemeral event was not published", exc_info=True)
        return 0
    return len(messages)


def ephemeral_frame(message: dict[str, Any], seq: int) -> str:
    """The frame a consumer sends for an `sb.ephemeral` message, at the socket's `seq`."""
    return f"{message['head']}{seq}{message['tail']}"
