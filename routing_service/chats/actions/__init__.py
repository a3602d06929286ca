"""Every write of the chat domain. Views, consumers, the router, workers and commands call these;
nothing else writes chat rows or publishes chat events."""

from routing_service.chats.actions.agents import capacity_changed, set_agent_status
from routing_service.chats.actions.assignments import (
    accept_assignment,
    decline_assignment,
    escalate_assignment,
    pick_conversation,
    resolve_assignment,
    transfer_assignment,
)
from routing_service.chats.actions.errors import ActionError
from routing_service.chats.actions.inbound import InboundResult, receive_inbound_message
from routing_service.chats.actions.labels import set_conversation_labels
from routing_service.chats.actions.notes import add_note
from routing_service.chats.actions.notifications import dismiss_notification, mark_read
from routing_service.chats.actions.replies import send_agent_reply
from routing_service.chats.actions.routing import (
    end_decline_cooldowns,
    expire_offers,
    route_waiting,
)

__all__ = [
    "ActionError",
    "InboundResult",
    "accept_assignment",
    "add_note",
    "capacity_changed",
    "decline_assignment",
    "dismiss_notification",
    "end_decline_cooldowns",
    "escalate_assignment",
    "expire_offers",
    "mark_read",
    "pick_conversation",
    "receive_inbound_message",
    "resolve_assignment",
    "route_waiting",
    "send_agent_reply",
    "set_agent_status",
    "set_conversation_labels",
    "transfer_assignment",
]
