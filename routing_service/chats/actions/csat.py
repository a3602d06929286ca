"""Satisfaction survey writes: the survey sent after resolve and the answers the router records.

`send_survey` runs inside `resolve_assignment`'s transaction; `answers_in_batch` and
`record_answers` run inside the router's batch (`inbound._CompanyBatch`): the client rows the
batch already read say whether a survey is waiting, so recognising an answer costs no query,
and recording them is one bulk update per table. The rules are in `chats/csat.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from events.schema import Event, EventType, make_event
from routing_service.chats import csat
from routing_service.chats.bulk import update_rows
from routing_service.chats.models import (
    Client,
    Conversation,
    DeliveryStatus,
    Message,
    MessageDirection,
)
from routing_service.chats.payloads import message_data


def send_survey(conversation: Conversation, *, now: dt.datetime) -> Message | None:
    """Queue the channel's survey to the customer of a chat just resolved (if it opted in).

    Precondition: inside the resolving transaction, `conversation` locked and loaded with its
    channel and client. The survey goes out through the outbound worker like any reply.
    """
    config = csat.survey_config(conversation.channel.config)
    if not config.enabled or not conversation.channel.is_active:
        return None
    message = Message.objects.create(
        company_id=conversation.company_id,
        conversation=conversation,
        channel_id=conversation.channel_id,
        direction=MessageDirection.OUTBOUND,
        text=config.question,
        sent_at=now,
        delivery_status=DeliveryStatus.PENDING,
        metadata={csat.SURVEY_KEY: True, csat.QUICK_REPLIES_KEY: csat.quick_replies()},
    )
    conversation.csat_requested_at = now
    conversation.message_count += 1
    conversation.save(update_fields=["csat_requested_at", "message_count"])
    Client.objects.unscoped().filter(pk=conversation.client_id).update(
        csat_conversation_id=conversation.pk,
        csat_due_at=now + dt.timedelta(hours=settings.CSAT_WINDOW_HOURS),
    )
    from routing_service.chats.actions.replies import enqueue_delivery

    transaction.on_commit(lambda: enqueue_delivery(message.pk), robust=True)
    return message


@dataclass(frozen=True)
class SurveyAnswer:
    """A message of the batch that answers its client's survey."""

    index: int
    client: Client
    conversation_id: int
    answer: csat.Answer
    received_at: dt.datetime


def survey_pending(client: Client, at: dt.datetime) -> bool:
    return (
        client.csat_conversation_id is not None
        and client.csat_due_at is not None
        and at <= client.csat_due_at
    )


def record_answers(
    company_id: int, answers: Sequence[SurveyAnswer], messages: list[Message]
) -> list[Event]:
    """Store the ratings on the resolved chats (their messages are inserted by the caller).

    Precondition: the company's routing lock is held. A chat answered twice keeps the first
    answer (the client's pending survey is cleared by the first). Returns the events to publish.
    """
    if not answers:
        return []
    from routing_service.chats.queries import rows

    conversations = {
        c.pk: c
        for c in rows(
            Conversation,
            {"id": {a.conversation_id for a in answers}},
            fields=(
                "company",
                "csat_rating",
                "csat_comment",
                "csat_answered_at",
                "message_count",
                "status",
            ),
            for_update=True,
        )
    }
    changed: list[Conversation] = []
    for answer in answers:
        conversation = conversations.get(answer.conversation_id)
        if conversation is None:
            continue
        conversation.message_count += 1
        if conversation.csat_rating is None:
            conversation.csat_rating = answer.answer.rating
            conversation.csat_comment = answer.answer.comment
            conversation.csat_answered_at = answer.received_at
        if conversation not in changed:
            changed.append(conversation)
    update_rows(changed, ["csat_rating", "csat_comment", "csat_answered_at", "message_count"])
    events = [
        make_event(
            EventType.CHAT_MESSAGE,
            company_id,
            {**message_data(m), "csat_rating": conversations[m.conversation_id].csat_rating}
            if m.conversation_id in conversations
            else message_data(m),
            supervisors=True,
        )
        for m in messages
    ]
    ids = [c.pk for c in changed]

    def refresh_sessions() -> None:
        from analytics.tasks import record_live_session  # lazy: analytics imports chats

        for conversation_id in ids:
            record_live_session.send(conversation_id)

    transaction.on_commit(refresh_sessions, robust=True)
    return events


def clear_pending(clients: Sequence[Client]) -> None:
    """The survey of these clients is over (answered, or they wrote about something else)."""
    for client in clients:
        client.csat_conversation_id = None
        client.csat_due_at = None
    update_rows(list(clients), ["csat_conversation", "csat_due_at"])
