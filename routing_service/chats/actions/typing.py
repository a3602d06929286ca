"""Typing indicators: who is typing in a chat, told live and forgotten (`chat.typing`).

Nothing is written: a typing signal is no change of the chat, so it goes out on the ephemeral
path (events/ephemeral.py: no outbox row, no seq, no replay) once the surrounding transaction
— the router's batch — commits, so it never overtakes the messages recorded before it.

* The customer's (generic webhook `{"event": "typing", ...}`, through the inbound stream and
  the router) reaches the agent holding the chat (offered or accepted) and the company's
  supervisors, whose conversation view follows the chat.
* The agent's (websocket action `typing`) reaches the supervisors only: no provider we speak
  takes an agent's typing state (the customer side shows nothing).
"""

from __future__ import annotations

from django.db import transaction

from events.ephemeral import publish_ephemeral
from events.schema import EventType, make_event
from routing_service.chats.actions.assignments import active_assignment_for
from routing_service.chats.actions.errors import not_found
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    OPEN_CONVERSATION_STATUSES,
    ChatAssignment,
    Conversation,
)
from routing_service.tenancy.models import User

# How long a console shows "typing…" after a signal without a newer one (the sender repeats
# it while typing goes on; a `typing: false` ends it at once).
TYPING_TTL_SECONDS = 6


def customer_typing(
    channel_id: int, company_id: int, client_external_id: str, *, typing: bool = True
) -> bool:
    """Tell the handling agent and the supervisors that the customer is (no longer) typing.

    Returns whether a chat was found to tell about (a signal for no open chat is dropped).
    The chat is the client's open one, whichever channel it runs on (`channel_id` is where
    the signal came from, kept for the logs).
    """
    conversation = (
        Conversation.objects.unscoped()
        .filter(
            company_id=company_id,
            client__company_id=company_id,
            client__external_id=client_external_id,
            status__in=OPEN_CONVERSATION_STATUSES,
        )
        .values_list("pk", "client_id")
        .first()
    )
    if conversation is None:
        return False
    conversation_id, client_id = conversation
    agent_id = (
        ChatAssignment.objects.unscoped()
        .filter(
            company_id=company_id,
            conversation_id=conversation_id,
            status__in=ACTIVE_ASSIGNMENT_STATUSES,
        )
        .values_list("agent_id", flat=True)
        .first()
    )
    data = {
        "conversation_id": conversation_id,
        "client_id": client_id,
        "by": "customer",
        "agent_id": None,
        "typing": typing,
        "ttl_seconds": TYPING_TTL_SECONDS,
    }
    event = make_event(EventType.CHAT_TYPING, company_id, data, supervisors=True, agents=[agent_id])
    transaction.on_commit(lambda: publish_ephemeral([event]))
    return True


def agent_typing(conversation_id: int, actor: User, *, typing: bool = True) -> int:
    """The agent holding the chat types (or stopped): the supervisors' view shows it.

    Returns the conversation id. Only the agent of the chat's active assignment may say so.
    """
    assignment = active_assignment_for(conversation_id, actor)
    if assignment is None or assignment.agent_id != actor.pk:
        raise not_found("An active assignment of this conversation", "conversation_id")
    data = {
        "conversation_id": conversation_id,
        "client_id": None,
        "by": "agent",
        "agent_id": actor.pk,
        "typing": typing,
        "ttl_seconds": TYPING_TTL_SECONDS,
    }
    event = make_event(EventType.CHAT_TYPING, assignment.company_id, data, supervisors=True)
    transaction.on_commit(lambda: publish_ephemeral([event]))
    return conversation_id
