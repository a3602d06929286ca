"""④ One `queue.updated` per transaction and audience: the queue fan-out of a busy batch.

Every console of a company watches its queue group, so each queue change is one frame to each
of them: a router batch that opens and offers 500 chats sent 1,000 frames to every console
(issue 16). The changes of one transaction commit together, so nobody could have seen them
apart: the outbox writes them as one `queue.updated` whose `data.changes` lists each change's
usual payload, in order (realtime/PROTOCOL.md). A lone change keeps its usual shape. The
router applies it to each batch (`outbox.batch(coalesce_queue_updates)`); other writers'
events are written as they are. Only events of one company and the same groups merge (an
ended offer's event also goes to that agent: it stays apart), and other types are never
touched — `chat.offered` goes out as before, nothing waits for a timer, and the merged event
is one logged event like any other, so `?last_seq=` replays it as it was sent live.
"""

from __future__ import annotations

from collections.abc import Sequence

from events.schema import Event, EventType

_QUEUE = str(EventType.QUEUE_UPDATED)


def coalesce_queue_updates(events: Sequence[Event]) -> list[Event]:
    """`events` with the `queue.updated` of each (company, groups) merged into one, placed
    where the last of them was (after everything any of them followed)."""
    merged: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for index, event in enumerate(events):
        if event.type == _QUEUE:
            merged.setdefault((event.company_id, event.groups), []).append(index)
    if all(len(indexes) < 2 for indexes in merged.values()):
        return list(events)
    replacement: dict[int, Event | None] = {}
    for (company_id, groups), indexes in merged.items():
        if len(indexes) < 2:
            continue
        changes: list[dict[str, object]] = []
        for index in indexes:
            data = events[index].data
            changes.extend(data.get("changes", [data]))
            replacement[index] = None
        last = events[indexes[-1]]
        replacement[indexes[-1]] = Event(
            type=_QUEUE, company_id=company_id, groups=groups, data={"changes": changes}, at=last.at
        )
    result: list[Event] = []
    for index, event in enumerate(events):
        if index not in replacement:
            result.append(event)
        elif (combined := replacement[index]) is not None:
            result.append(combined)
    return result
