"""② → ③ Inbound customer messages become clients, queued chats, messages and offers.

Called by the router for each batch read from the inbound stream (and, one message at a time,
by `create_sample_data` and tests). A batch is recorded company by company — in ascending id,
the lock order, under the company's routing lock — with set-based queries: one look-up for
duplicates, clients, open chats, active assignments and notifications each, and bulk writes, so
the cost per message stays flat as batches grow.

Idempotent: the same provider message id on the same channel is recorded once, whatever the
number of deliveries (checked under the company lock, backed by the unique key that the
message table's triggers write: routing_service/chats/message_keys.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics import live_counting
from events.outbox import publish_on_commit
from events.schema import Event, EventType, make_event
from routing_service.attachments.actions import record_inbound
from routing_service.chats import csat
from routing_service.chats.actions import csat as csat_actions
from routing_service.chats.actions.routing import queue_event, route_waiting, routing_policy
from routing_service.chats.bulk import insert_rows, insert_values, new, update_rows
from routing_service.chats.locks import lock_company_routing
from routing_service.chats.message_keys import known_keys
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    OPEN_CONVERSATION_STATUSES,
    PRIORITY_RANK,
    AssignmentEvent,
    Channel,
    ChatAssignment,
    ChatNotification,
    Client,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageDirection,
    Priority,
    RoutingPolicy,
)
from routing_service.chats.payloads import ATTACHMENT_COUNT_KEY, conversation_data, message_data
from routing_service.chats.queries import rows
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.queues.config import company_queues
from routing_service.queues.rules import InboundFacts
from routing_service.router import rules
from sla_engine.deadlines import DueTimes, due_times
from sla_engine.models import ChatSLA
from sla_engine.scheduler import customer_answered_many

# What the batch's events say of a chat's active assignment (payloads.conversation_data).
_ASSIGNMENT_SUMMARY = ("id", "conversation", "agent", "status", "offer_expires_at")


@dataclass(frozen=True)
class InboundItem:
    """One message to record: where it came from and when the webhook accepted it (the SLA
    clock starts then, not when an agent is found)."""

    channel: Channel
    message: InboundMessage
    received_at: dt.datetime


@dataclass(frozen=True)
class InboundResult:
    conversation_id: int | None
    message_id: int | None
    duplicate: bool
    new_conversation: bool = False


def receive_inbound_message(
    channel: Channel, inbound: InboundMessage, *, received_at: dt.datetime | None = None
) -> InboundResult:
    """Record one customer message and route its chat; a replay returns `duplicate=True`."""
    item = InboundItem(channel, inbound, received_at or timezone.now())
    return receive_inbound_batch([item])[0]


def receive_inbound_batch(items: Sequence[InboundItem]) -> list[InboundResult]:
    """Record messages in order (per client) and route their chats, in one transaction.

    Joins the caller's transaction without a savepoint (two round trips per router batch): a
    failure here fails the caller's whole transaction, as the router wants anyway.
    """
    results: list[InboundResult | None] = [None] * len(items)
    by_company: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_company[item.channel.company_id].append(index)
    with transaction.atomic(savepoint=False):
        for company_id in sorted(by_company):
            lock_company_routing(company_id)
            batch = _CompanyBatch(company_id, [(i, items[i]) for i in by_company[company_id]])
            for index, result in batch.record().items():
                results[index] = result
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


@dataclass
class _ChatChange:
    """What one batch does to one conversation."""

    conversation: Conversation
    created: bool
    received: list[tuple[InboundItem, Message]] = field(default_factory=list)
    priority_changed: bool = False
    previous_priority: str = ""
    became_urgent: bool = False
    urgent_text: str = ""


class _CompanyBatch:
    """The messages of one company in one batch. Precondition: the company's routing lock is
    held by the surrounding transaction."""

    def __init__(self, company_id: int, items: list[tuple[int, InboundItem]]) -> None:
        self.company_id = company_id
        self.items = items
        self.policy: RoutingPolicy = routing_policy(company_id)
        # The company's queues and rules: cached, checked against the policy's version.
        self.queues = company_queues(company_id, self.policy)
        # SLA policies by (queue id or None for the company's, priority).
        self.slas = {
            (sla.queue_id, sla.priority): sla for sla in rows(ChatSLA, {"company_id": company_id})
        }
        # The payloads of the batch's files, by message id (for the batch's events).
        self.files: dict[int, list[dict[str, object]]] = {}

    def record(self) -> dict[int, InboundResult]:
        results: dict[int, InboundResult] = {}
        fresh = self._drop_duplicates(results)
        if not fresh:
            return results
        clients = self._upsert_clients([item for _, item in fresh])
        fresh, survey_events = self._take_survey_answers(fresh, clients, results)
        if not fresh:
            publish_on_commit(survey_events)
            return results
        changes = self._open_conversations(fresh, clients)
        for index, message in self._insert_messages(fresh, changes, clients).items():
            change = changes[message.conversation.client_id]
            results[index] = InboundResult(
                change.conversation.pk, message.pk, False, new_conversation=change.created
            )
        self._update_conversations(changes)
        publish_on_commit(survey_events + self._notify(changes))
        live_counting.count_arrivals(
            self.company_id, [c.conversation for c in changes.values() if c.created]
        )
        offered: set[int] = set()
        if any(c.conversation.status == ConversationStatus.WAITING for c in changes.values()):
            offered = {
                a.conversation_id
                for a in route_waiting(
                    self.company_id,
                    known={c.conversation.pk: c.conversation for c in changes.values()},
                    new={c.conversation.pk for c in changes.values() if c.created},
                    policy=self.policy,  # read under this transaction's lock
                )
            }
        # A chat this batch opened enters the queue with one `queue.updated`, after routing:
        # offered at once, its offer's event says so (the waiting state was never committed,
        # so no console needs it: half the queue fan-out of a first contact); else its state
        # now, after any overflow move.
        publish_on_commit(
            queue_event(c.conversation)
            for c in changes.values()
            if c.created and c.conversation.pk not in offered
        )
        self._enqueue_auto_replies(changes, offered)
        return results

    def _enqueue_auto_replies(self, changes: dict[int, _ChatChange], offered: set[int]) -> None:
        """New chats still waiting after the batch, in a queue with an automatic message: the
        actor sends it after commit (and re-checks); nothing is read here, no round trip."""
        ids = [
            c.conversation.pk
            for c in changes.values()
            if c.created
            and c.conversation.pk not in offered
            and c.conversation.status == ConversationStatus.WAITING
            and c.conversation.queue_id is not None
            and self.queues.get(c.conversation.queue_id).auto_reply
        ]
        if ids:
            from routing_service.queues.tasks import enqueue_auto_replies

            transaction.on_commit(lambda: enqueue_auto_replies(ids), robust=True)

    def _drop_duplicates(self, results: dict[int, InboundResult]) -> list[tuple[int, InboundItem]]:
        """Messages seen before (in the database or earlier in this batch) are duplicates."""
        wanted = {(item.channel.pk, item.message.provider_message_id) for _, item in self.items}
        # The key table, not the messages: one index look-up whatever the months partitioned.
        known = known_keys(wanted)
        fresh: list[tuple[int, InboundItem]] = []
        for index, item in self.items:
            key = (item.channel.pk, item.message.provider_message_id)
            if key in known:
                results[index] = InboundResult(None, None, duplicate=True)
            else:
                known.add(key)
                fresh.append((index, item))
        return fresh

    def _take_survey_answers(
        self,
        fresh: list[tuple[int, InboundItem]],
        clients: dict[str, Client],
        results: dict[int, InboundResult],
    ) -> tuple[list[tuple[int, InboundItem]], list[Event]]:
        """Record the messages that answer a satisfaction survey on their resolved chat (they
        do not reopen it) and return the others, with the events of the answers.

        Only a client's first message of the batch can answer; any first message ends the
        client's survey. Decided from the client rows already read: no extra query unless
        some client has a survey waiting.
        """
        decided: set[int] = set()
        ended: list[Client] = []
        answers: list[csat_actions.SurveyAnswer] = []
        remaining: list[tuple[int, InboundItem]] = []
        for index, item in fresh:
            client = clients[item.message.client_external_id]
            if client.csat_conversation_id is None or client.pk in decided:
                remaining.append((index, item))
                continue
            decided.add(client.pk)
            ended.append(client)
            conversation_id = client.csat_conversation_id
            parsed = None
            if csat_actions.survey_pending(client, item.received_at):
                parsed = csat.parse_answer(item.message.text, item.message.metadata)
            if parsed is None:
                remaining.append((index, item))
                continue
            answers.append(
                csat_actions.SurveyAnswer(index, client, conversation_id, parsed, item.received_at)
            )
        if not ended:
            return fresh, []
        csat_actions.clear_pending(ended)
        items = dict(fresh)
        messages = [
            Message(
                company_id=self.company_id,
                conversation_id=answer.conversation_id,
                channel=items[answer.index].channel,
                direction=MessageDirection.INBOUND,
                provider_message_id=items[answer.index].message.provider_message_id,
                text=items[answer.index].message.text,
                sent_at=items[answer.index].message.sent_at,
                delivery_status=DeliveryStatus.RECEIVED,
                metadata={
                    **items[answer.index].message.metadata,
                    "csat_answer": answer.answer.rating,
                },
            )
            for answer in answers
        ]
        insert_rows(messages)
        for answer, message in zip(answers, messages, strict=True):
            results[answer.index] = InboundResult(answer.conversation_id, message.pk, False)
        return remaining, csat_actions.record_answers(self.company_id, answers, messages)

    def _upsert_clients(self, items: list[InboundItem]) -> dict[str, Client]:
        """Every sender as a Client, created or refreshed from their latest message."""
        latest: dict[str, InboundMessage] = {}
        for item in items:
            latest[item.message.client_external_id] = item.message
        clients = {
            c.external_id: c
            for c in rows(Client, {"company_id": self.company_id, "external_id": list(latest)})
        }
        new_clients = [
            new(
                Client,
                {
                    "company_id": self.company_id,
                    "external_id": external_id,
                    "name": m.client_name,
                    "email": m.client_email or "",
                    "phone": m.client_phone or "",
                    "language": (m.language or "").lower(),
                },
            )
            for external_id, m in latest.items()
            if external_id not in clients
        ]
        for client in insert_rows(new_clients):
            clients[client.external_id] = client
        changed: list[Client] = []
        for external_id, m in latest.items():
            client = clients[external_id]
            dirty = False
            for name, value in (
                ("name", m.client_name),
                ("email", m.client_email),
                ("phone", m.client_phone),
                ("language", (m.language or "").lower()),
            ):
                if value and getattr(client, name) != value:
                    setattr(client, name, value)
                    dirty = True
            if dirty:
                changed.append(client)
        if changed:
            Client.objects.bulk_update(changed, ["name", "email", "phone", "language"])
        return clients

    def _open_conversations(
        self, fresh: list[tuple[int, InboundItem]], clients: dict[str, Client]
    ) -> dict[int, _ChatChange]:
        """The open chat of every sender (by client id), opening one where there is none."""
        by_id = {client.pk: client for client in clients.values()}
        channels = {item.channel.pk: item.channel for _, item in fresh}
        changes: dict[int, _ChatChange] = {}
        # The clients and channels are in hand already: attached, not joined and rebuilt.
        for conversation in rows(
            Conversation,
            {
                "company_id": self.company_id,
                "client_id": list(by_id),
                "status": OPEN_CONVERSATION_STATUSES,
            },
            for_update=True,
        ):
            conversation.client = by_id[conversation.client_id]
            if conversation.channel_id not in channels:  # opened on another of their channels
                channels[conversation.channel_id] = Channel.objects.unscoped().get(
                    pk=conversation.channel_id
                )
            conversation.channel = channels[conversation.channel_id]
            changes[conversation.client_id] = _ChatChange(conversation, created=False)
        opened: dict[int, _ChatChange] = {}
        # A new chat's messages of the batch, by client: its priority, due times and counters
        # are worked out before its row is written (one INSERT, no UPDATE of it afterwards).
        first_messages: dict[int, list[InboundItem]] = defaultdict(list)
        for _, item in fresh:
            client = clients[item.message.client_external_id]
            if client.pk in changes:
                continue
            first_messages[client.pk].append(item)
            if client.pk in opened:
                continue
            language = (item.message.language or client.language or "").lower()
            category = (item.message.category or "").lower()
            queue_id = self.queues.queue_for(
                InboundFacts(
                    channel_id=item.channel.pk,
                    language=language,
                    category=category,
                    text=item.message.text,
                    vip=client.is_vip,
                    attributes=client.attributes or {},
                )
            )
            conversation = new(
                Conversation,
                {
                    "company_id": self.company_id,
                    "client_id": client.pk,
                    "channel_id": item.channel.pk,
                    "queue_id": queue_id,
                    "queue_entered_at": item.received_at,
                    "status": ConversationStatus.WAITING,
                    "priority": Priority.MEDIUM,
                    "priority_rank": PRIORITY_RANK[Priority.MEDIUM],
                    "language": language,
                    "category": category,
                    "subject": item.message.text[:255],
                    "created_at": item.received_at,
                    "queued_at": item.received_at,
                    "last_message_at": item.received_at,
                },
                related={"client": client, "channel": item.channel},
            )
            opened[client.pk] = _ChatChange(conversation, created=True)
        for client_id, change in opened.items():
            self._take_messages(change, first_messages[client_id])
        insert_rows([change.conversation for change in opened.values()])
        changes.update(opened)
        return changes

    def _insert_messages(
        self,
        fresh: list[tuple[int, InboundItem]],
        changes: dict[int, _ChatChange],
        clients: dict[str, Client],
    ) -> dict[int, Message]:
        messages: dict[int, Message] = {}
        for index, item in fresh:
            change = changes[clients[item.message.client_external_id].pk]
            metadata = item.message.metadata
            if item.message.attachments:
                metadata = {**metadata, ATTACHMENT_COUNT_KEY: len(item.message.attachments)}
            message = new(
                Message,
                {
                    "company_id": self.company_id,
                    "conversation_id": change.conversation.pk,
                    "channel_id": item.channel.pk,
                    "direction": MessageDirection.INBOUND,
                    "provider_message_id": item.message.provider_message_id,
                    "text": item.message.text,
                    "sent_at": item.message.sent_at,
                    "delivery_status": DeliveryStatus.RECEIVED,
                    "metadata": metadata,
                },
                related={"conversation": change.conversation, "channel": item.channel},
            )
            messages[index] = message
            change.received.append((item, message))
        insert_rows(list(messages.values()))
        files = [
            (messages[index].pk, ref) for index, item in fresh for ref in item.message.attachments
        ]
        if files:
            # Pending rows only: the download runs in a worker after the commit.
            for message_id, data in record_inbound(self.company_id, files):
                self.files.setdefault(message_id, []).append(data)
        return messages

    def _due(self, priority: str, start: dt.datetime, queue_id: int | None) -> DueTimes:
        """The chat's queue's own SLA policy for the priority, else the company's."""
        policy = self.slas.get((queue_id, priority)) if queue_id is not None else None
        return due_times(policy or self.slas.get((None, priority)), start)

    def _update_conversations(self, changes: dict[int, _ChatChange]) -> None:
        """Priority, counters, due times and the audit trail of every chat the batch touched."""
        audit: list[dict[str, Any]] = []
        answers: list[tuple[Conversation, dt.datetime, bool]] = []
        for change in changes.values():
            conversation = change.conversation
            if change.created:  # settled before its row was written (`_open_conversations`)
                audit.append(_audit(conversation, AssignmentEvent.Action.QUEUED, "first message"))
            else:
                self._take_messages(change, [item for item, _ in change.received])
                if change.priority_changed:
                    audit.append(
                        _audit(
                            conversation,
                            AssignmentEvent.Action.PRIORITY_CHANGED,
                            "inbound message",
                            old=change.previous_priority,
                            new=conversation.priority,
                        )
                    )
            # The customer's first message of the batch is what ended a wait on them.
            answered_at = min(item.received_at for item, _ in change.received)
            answers.append((conversation, answered_at, change.priority_changed))
        # Before clearing the wait: a customer answering after a pause moves the due times.
        customer_answered_many(
            answers, new={c.conversation.pk for c in changes.values() if c.created}
        )
        for change in changes.values():
            change.conversation.waiting_on_customer_since = None
        # A chat the batch opened was written whole, and the SLA scheduler changes nothing of
        # it (no pause to read back): only the chats that were open before are updated.
        update_rows(
            [c.conversation for c in changes.values() if not c.created],
            [
                "priority",
                "priority_rank",
                "first_response_due_at",
                "resolution_due_at",
                "last_message_at",
                "message_count",
                "waiting_on_customer_since",
            ],
        )
        insert_values(AssignmentEvent, audit)

    def _take_messages(self, change: _ChatChange, items: Sequence[InboundItem]) -> None:
        """A chat's priority, due times, last message time and count after the batch's
        messages `items` (in order); a new chat's priority comes from its messages alone."""
        conversation = change.conversation
        keywords = self.policy.urgent_keywords or []
        priority = None if change.created else conversation.priority
        for item in items:
            before = priority
            priority = rules.detect_priority(
                item.message.text,
                item.message.priority,
                is_vip=conversation.client.is_vip,
                urgent_keywords=keywords,
                vip_priority=self.policy.vip_priority,
                current=priority,
            )
            if priority == Priority.URGENT and before != Priority.URGENT:
                change.became_urgent = True
                change.urgent_text = item.message.text[:500]
        assert priority is not None
        change.previous_priority = conversation.priority
        change.priority_changed = change.created or priority != conversation.priority
        if change.priority_changed:
            conversation.priority = priority
            conversation.priority_rank = PRIORITY_RANK[Priority(priority)]
            # Due times follow the priority; the clock still starts at the first message.
            due = self._due(priority, conversation.created_at, conversation.queue_id)
            conversation.first_response_due_at = due.first_response
            conversation.resolution_due_at = due.resolution
        received_at = max(item.received_at for item in items)
        conversation.last_message_at = max(conversation.last_message_at, received_at)
        conversation.message_count += len(items)

    def _notify(self, changes: dict[int, _ChatChange]) -> list[Event]:
        """Unread counts and live messages for chats someone holds; queue and urgent events."""
        by_conversation = {c.conversation.pk: c for c in changes.values()}
        # A chat the batch opened has no assignment yet: only the others are looked up.
        held = [pk for pk, c in by_conversation.items() if not c.created]
        assignments = {
            a.conversation_id: a
            for a in rows(
                ChatAssignment,
                {"conversation_id": held, "status": ACTIVE_ASSIGNMENT_STATUSES},
                fields=_ASSIGNMENT_SUMMARY,
            )
        }
        notifications = self._bump_notifications(by_conversation, assignments)
        events: list[Event] = []
        for conversation_id, change in by_conversation.items():
            conversation = change.conversation
            assignment = assignments.get(conversation_id)
            # Every customer message reaches the company's supervisors (the conversations
            # page's live view follows any chat) and the agent holding the chat, if any.
            agents = [assignment.agent_id] if assignment is not None else []
            events += [
                make_event(
                    EventType.CHAT_MESSAGE,
                    self.company_id,
                    message_data(m, self.files.get(m.pk, [])),
                    agents=agents,
                    supervisors=True,
                )
                for _, m in change.received
            ]
            if assignment is not None:
                events.append(
                    make_event(
                        EventType.NOTIFICATION,
                        self.company_id,
                        notification_data(notifications[conversation_id]),
                        agents=agents,
                    )
                )
            # A chat the batch opened gets its queue event after the routing pass (`record`).
            if not change.created and (
                change.priority_changed or conversation.status == ConversationStatus.WAITING
            ):
                events.append(queue_event(conversation, assignment))
            if change.became_urgent:
                events.append(
                    make_event(
                        EventType.ALERT_URGENT,
                        self.company_id,
                        {
                            **conversation_data(conversation, assignment),
                            "text": change.urgent_text,
                        },
                        queue=True,
                        supervisors=True,
                    )
                )
        return events

    def _bump_notifications(
        self, by_conversation: dict[int, _ChatChange], assignments: dict[int, ChatAssignment]
    ) -> dict[int, ChatNotification]:
        """Raise the holder's unread (and urgent) counts for each chat's client."""
        if not assignments:
            return {}
        keys = {
            (a.agent_id, by_conversation[cid].conversation.client_id)
            for cid, a in assignments.items()
        }
        existing = {
            (n.recipient_id, n.client_id): n
            for n in rows(
                ChatNotification,
                {
                    "company_id": self.company_id,
                    "recipient_id": {agent for agent, _ in keys},
                    "client_id": {client for _, client in keys},
                },
            )
        }
        result: dict[int, ChatNotification] = {}
        new: list[ChatNotification] = []
        updated: list[ChatNotification] = []
        for conversation_id, assignment in assignments.items():
            conversation = by_conversation[conversation_id].conversation
            received = [m for _, m in by_conversation[conversation_id].received]
            key = (assignment.agent_id, conversation.client_id)
            notification = existing.get(key)
            if notification is None:
                notification = ChatNotification(
                    company_id=self.company_id,
                    recipient_id=assignment.agent_id,
                    client_id=conversation.client_id,
                )
                new.append(notification)
            else:
                updated.append(notification)
            notification.unread_count += len(received)
            if conversation.priority == Priority.URGENT:
                notification.urgent_count += len(received)
            notification.last_message_at = received[-1].sent_at
            notification.last_text = received[-1].text[:200]
            notification.conversation = conversation
            notification.dismissed_at = None
            notification.updated_at = timezone.now()
            result[conversation_id] = notification
        insert_rows(new)
        update_rows(
            updated,
            [
                "unread_count",
                "urgent_count",
                "last_message_at",
                "last_text",
                "conversation",
                "dismissed_at",
                "updated_at",
            ],
        )
        return result


def _audit(conversation: Conversation, action: str, reason: str, **data: object) -> dict[str, Any]:
    """An audit row as `insert_values` writes it (nobody needs the instance)."""
    return {
        "company_id": conversation.company_id,
        "conversation_id": conversation.pk,
        "action": action,
        "reason": reason,
        "data": data,
    }


def notification_data(notification: ChatNotification) -> dict[str, object]:
    return {
        "notification_id": notification.pk,
        "conversation_id": notification.conversation_id,
        "client_id": notification.client_id,
        "unread_count": notification.unread_count,
        "urgent_count": notification.urgent_count,
        "last_text": notification.last_text,
        "last_message_at": notification.last_message_at.isoformat()
        if notification.last_message_at
        else None,
        "dismissed": notification.dismissed_at is not None,
    }
