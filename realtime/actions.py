"""⑤ Socket actions → the same domain functions as the REST API.

Each handler resolves the chat's active assignment from `conversation_id`, calls one action of
`routing_service.chats.actions` (which checks the rules, writes, and publishes the events after
commit) and shapes the `ack` result. An `ActionError` travels back to the consumer untouched
and becomes an `error` frame with its code, message and field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from realtime.protocol import ActionRequest
from realtime.revocation import Identity, current_user
from routing_service.chats.actions import (
    ActionError,
    add_note,
    decline_assignment,
    escalate_assignment,
    mark_read,
    pick_conversation,
    resolve_assignment,
    send_agent_reply,
    set_agent_status,
    transfer_assignment,
)
from routing_service.chats.actions.assignments import active_assignment_for
from routing_service.chats.actions.errors import not_found
from routing_service.chats.actions.typing import agent_typing
from routing_service.chats.models import ChatAssignment
from routing_service.chats.payloads import message_data
from routing_service.tenancy.context import active_company
from routing_service.tenancy.models import User


def _active(request: ActionRequest, user: User) -> ChatAssignment:
    assert request.conversation_id is not None
    assignment = active_assignment_for(request.conversation_id, user)
    if assignment is None:
        raise not_found("An active assignment of this conversation", "conversation_id")
    return assignment


def _assignment(assignment: ChatAssignment, conversation_id: int) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "assignment_id": assignment.pk,
        "assignment_status": assignment.status,
        "agent_id": assignment.agent_id,
    }


def _accept(user: User, request: ActionRequest) -> dict[str, Any]:
    """Accept the offer, or take a waiting chat from the queue (manual routing)."""
    assert request.conversation_id is not None
    return _assignment(pick_conversation(request.conversation_id, user), request.conversation_id)


def _decline(user: User, request: ActionRequest) -> dict[str, Any]:
    """Decline the offer; the ack says how long the chat stays away from this agent (the
    console tells them), `cooldown_seconds` 0 when the company has no cool-down."""
    assignment = _active(request, user)
    declined = decline_assignment(assignment.pk, user, reason=request.fields["reason"])
    until, ended = declined.cooldown_until, declined.ended_at
    return {
        **_assignment(declined, assignment.conversation_id),
        "cooldown_until": until.isoformat() if until else None,
        "cooldown_seconds": round((until - ended).total_seconds()) if until and ended else 0,
    }


def _reply(user: User, request: ActionRequest) -> dict[str, Any]:
    assert request.conversation_id is not None
    message = send_agent_reply(
        request.conversation_id,
        user,
        request.fields["text"],
        attachment_ids=request.fields.get("attachment_ids") or (),
    )
    return {
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
        "sent_at": message.sent_at.isoformat(),
        "delivery_status": message.delivery_status,
        "attachments": message_data(message)["attachments"],
    }


def _note(user: User, request: ActionRequest) -> dict[str, Any]:
    assert request.conversation_id is not None
    note = add_note(request.conversation_id, user, request.fields["text"])
    return {
        "conversation_id": note.conversation_id,
        "message_id": note.pk,
        "kind": note.kind,
        "sent_at": note.sent_at.isoformat(),
        "mentions": note.metadata.get("mentions", []),
    }


def _resolve(user: User, request: ActionRequest) -> dict[str, Any]:
    assignment = _active(request, user)
    resolved = resolve_assignment(assignment.pk, user, reason=request.fields["reason"])
    return _assignment(resolved, assignment.conversation_id)


def _escalate(user: User, request: ActionRequest) -> dict[str, Any]:
    assignment = _active(request, user)
    result = escalate_assignment(assignment.pk, user, reason=request.fields["reason"])
    return _assignment(result, assignment.conversation_id)


def _transfer(user: User, request: ActionRequest) -> dict[str, Any]:
    assignment = _active(request, user)
    result = transfer_assignment(
        assignment.pk,
        user,
        reason=request.fields["reason"],
        to_agent_id=request.fields["to_agent_id"],
        to_queue=request.fields["to_queue"],
    )
    return _assignment(result, assignment.conversation_id)


def _set_status(user: User, request: ActionRequest) -> dict[str, Any]:
    agent = set_agent_status(user.pk, request.fields["status"], actor=user)
    return {"agent_id": agent.pk, "status": agent.status}


def _mark_read(user: User, request: ActionRequest) -> dict[str, Any]:
    assert request.conversation_id is not None
    notification = mark_read(user, conversation_id=request.conversation_id)
    return {
        "conversation_id": request.conversation_id,
        "notification_id": notification.pk if notification else None,
        "unread_count": 0,
        "urgent_count": 0,
    }


def _typing(user: User, request: ActionRequest) -> dict[str, Any]:
    """Ephemeral: nothing is stored, the supervisors' view shows it for a few seconds."""
    assert request.conversation_id is not None
    agent_typing(request.conversation_id, user, typing=request.fields["typing"])
    return {"conversation_id": request.conversation_id, "typing": request.fields["typing"]}


HANDLERS: dict[str, Callable[[User, ActionRequest], dict[str, Any]]] = {
    "accept": _accept,
    "decline": _decline,
    "reply": _reply,
    "note": _note,
    "resolve": _resolve,
    "escalate": _escalate,
    "transfer": _transfer,
    "set_status": _set_status,
    "mark_read": _mark_read,
    "typing": _typing,
}


def run_action(identity: Identity, request: ActionRequest) -> dict[str, Any]:
    """Run one socket action as the socket's user, re-read now (sync: call through
    database_sync_to_async). Raises CredentialsRevoked when the user is no longer who the
    socket was opened as (realtime/revocation.py)."""
    handler = HANDLERS.get(request.action)
    if handler is None:
        raise ActionError("unknown_action", f"Unknown action {request.action!r}.", field="action")
    user = current_user(identity)
    # Defence in depth: tenant managers see only the user's company while the action runs.
    with active_company(user.company):
        return handler(user, request)
