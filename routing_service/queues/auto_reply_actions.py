"""Sending a queue's automatic message to a new chat's customer (issue 14, item 5).

The router only enqueues `routing_service.queues.tasks.send_auto_reply` after its batch commits
(for new chats still waiting in a queue with an auto-reply on): no query on its hot path. The
actor calls `send_auto_reply` here, which decides, once more and under the chat's lock, whether
the customer should hear anything:

- the chat must still be waiting, with no active assignment and no first response (never to a
  chat already being answered);
- outside the queue's business hours (its calendar, else the company's SLA calendar for the
  chat's priority; no calendar: always open) the ``out_of_hours`` message naming the next
  opening; inside them the ``on_arrival`` message with the position and expected wait. Out of
  hours with only ``on_arrival`` on, nothing is sent: a wait estimate that ignores the closure
  would be a promise we cannot keep;
- an `AutoReplySent` row (unique per conversation and kind) is inserted in the same
  transaction as the outbound Message, so a retried actor or a duplicate task sends nothing.

The message is an ordinary outbound Message (kind ``message``, no sender) with
``metadata.automatic`` set, delivered by `deliver_message` through the channel's client.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation

from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.chats.locks import lock_company_routing, lock_conversation
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageDirection,
)
from routing_service.chats.payloads import message_data
from routing_service.queues import auto_reply
from routing_service.queues.models import AutoReplyKind, AutoReplySent, Queue
from sla_engine.calendar import (
    BusinessCalendar,
    is_working_time,
    next_working_moment,
)

logger = logging.getLogger(__name__)

AUTOMATIC_KEY = "automatic"
AUTO_REPLY_KIND_KEY = "auto_reply"


def calendar_of(queue: Queue, conversation: Conversation) -> BusinessCalendar | None:
    """The queue's calendar, else the company's SLA calendar for the chat; None: always open."""
    from sla_engine.deadlines import calendar_for, calendar_from_fields, policy_for

    if queue.calendar:
        return calendar_from_fields(queue.calendar)

    policy = policy_for(conversation.company_id, conversation.priority, queue.pk)
    return calendar_for(policy) if policy is not None else None


def format_opening(moment: dt.datetime, tz: str, language: str) -> str:
    """The next opening in the calendar's zone, formatted the chat language's way."""
    local = moment.astimezone(ZoneInfo(tz))
    with translation.override(language or settings.LANGUAGE_CODE):
        text = formats.date_format(local, "DATETIME_FORMAT")
    return f"{text} ({local.tzname()})"


def _being_answered(conversation: Conversation) -> bool:
    if conversation.status != ConversationStatus.WAITING or conversation.first_response_at:
        return True
    return (
        ChatAssignment.objects.unscoped()
        .filter(conversation_id=conversation.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .exists()
    )


def position_in_queue(conversation: Conversation, queue_id: int) -> int:
    """1 + the waiting chats of the queue routed before this one (the router's order:
    priority first, then time queued, then id)."""
    from django.db.models import Q

    waiting = Conversation.objects.unscoped().filter(
        company_id=conversation.company_id,
        queue_id=queue_id,
        status=ConversationStatus.WAITING,
    )
    ahead = waiting.filter(
        Q(priority_rank__gt=conversation.priority_rank)
        | Q(priority_rank=conversation.priority_rank, queued_at__lt=conversation.queued_at)
        | Q(
            priority_rank=conversation.priority_rank,
            queued_at=conversation.queued_at,
            pk__lt=conversation.pk,
        )
    ).count()
    return ahead + 1


def _expected_wait_minutes(company_id: int, queue_id: int, now: dt.datetime) -> int:
    from analytics.live_metrics import live_metrics
    from analytics.queue_targets import targets_of_company_queue

    targets = targets_of_company_queue(company_id, queue_id)
    figures = live_metrics(company_id, queue=targets, now=now)
    forecast = figures.get("forecast") or {}
    return auto_reply.wait_minutes(
        forecast.get("expected_wait_seconds"),
        figures.get("asa_seconds"),
        float(figures.get("longest_wait_seconds") or 0),
    )


def send_auto_reply(conversation_id: int, *, now: dt.datetime | None = None) -> Message | None:
    """Send the chat's automatic message if it is due (module docstring); None if not."""
    now = now or timezone.now()
    conversation = (
        Conversation.objects.unscoped()
        .select_related("company", "client", "channel")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None or conversation.queue_id is None or _being_answered(conversation):
        return None
    queue = (
        Queue.objects.unscoped()
        .filter(pk=conversation.queue_id, company_id=conversation.company_id)
        .first()
    )
    if queue is None or not conversation.channel.is_active:
        return None
    calendar = calendar_of(queue, conversation)
    open_now = calendar is None or is_working_time(calendar, now)
    kind = AutoReplyKind.ON_ARRIVAL if open_now else AutoReplyKind.OUT_OF_HOURS
    if not auto_reply.is_enabled(queue.auto_reply, kind):
        return None
    if AutoReplySent.objects.unscoped().filter(conversation=conversation, kind=kind).exists():
        return None
    language = conversation.language or conversation.client.language or ""
    values: dict[str, object] = {
        "queue.name": queue.name,
        "company.name": conversation.company.name,
        "client.name": conversation.client.name,
    }
    if calendar is not None:
        opening = now if open_now else next_working_moment(calendar, now)
        values["next_opening"] = format_opening(opening, calendar.timezone, language)
    if kind == AutoReplyKind.ON_ARRIVAL:
        values["position"] = position_in_queue(conversation, queue.pk)
        values["wait_minutes"] = _expected_wait_minutes(conversation.company_id, queue.pk, now)
    template = auto_reply.choose_template(queue.auto_reply, kind, language, settings.LANGUAGE_CODE)
    if template is None:
        with translation.override(language or "en"):
            template = str(auto_reply.BUILT_IN[kind])
    text = auto_reply.render(template, values).strip()
    return _store(conversation.pk, conversation.company_id, kind, text, now)


def _store(
    conversation_id: int, company_id: int, kind: str, text: str, now: dt.datetime
) -> Message | None:
    """Record and queue the message, exactly once per conversation and kind."""
    with transaction.atomic():
        lock_company_routing(company_id)
        conversation = lock_conversation(conversation_id)
        if _being_answered(conversation):
            return None
        try:
            with transaction.atomic():
                sent = AutoReplySent.objects.create(
                    company_id=company_id, conversation=conversation, kind=kind
                )
        except IntegrityError:
            return None
        message = Message.objects.create(
            company_id=company_id,
            conversation=conversation,
            channel_id=conversation.channel_id,
            direction=MessageDirection.OUTBOUND,
            text=text,
            sent_at=now,
            delivery_status=DeliveryStatus.PENDING,
            metadata={AUTOMATIC_KEY: True, AUTO_REPLY_KIND_KEY: kind},
        )
        sent.message = message
        sent.save(update_fields=["message"])
        conversation.message_count += 1
        conversation.save(update_fields=["message_count"])
        publish_on_commit(
            [
                make_event(
                    EventType.CHAT_MESSAGE, company_id, message_data(message), supervisors=True
                )
            ]
        )
        from routing_service.chats.actions.replies import enqueue_delivery

        transaction.on_commit(lambda: enqueue_delivery(message.pk), robust=True)
    logger.info("auto-reply %s sent to conversation %s", kind, conversation_id)
    return message
