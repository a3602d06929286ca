"""Outbound delivery fixtures: chats made through the product's own inbound and reply actions,
a real worker, and a local provider server the channels point at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from routing_service.chats.actions import receive_inbound_message, send_agent_reply
from routing_service.chats.models import Channel, ChatAssignment, Message
from routing_service.ingest.adapters import InboundMessage
from routing_service.outbound.tasks import deliver_message
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.support.fixtures import dramatiq_worker, provider_server  # noqa: F401
from tests.support.inbound import WEBHOOK_FIXTURES, parse_webhook

FIXTURES = WEBHOOK_FIXTURES
SECRET = "outbound-signing-secret-0123456789"
INBOUND_FIXTURE = {
    "generic": "message",
    "twilio": "sms_inbound",
    "whatsapp": "text_message",
    "telegram": "message_text",
}


def inbound_from_fixture(provider: str, name: str | None = None) -> InboundMessage:
    """A customer message as the provider's webhook would bring it (parsed by its adapter)."""
    raw = (FIXTURES / provider / f"{name or INBOUND_FIXTURE[provider]}.json").read_text()
    return parse_webhook(provider, raw)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Backoff in tens of milliseconds and 3 retries (4 attempts), for this test only.

    The Retries middleware reads these options off the actor when it schedules a retry.
    """
    options = {"min_backoff": 20, "max_backoff": 200, "max_retries": 3}
    for key, value in options.items():
        monkeypatch.setitem(deliver_message.options, key, value)
    return options


@dataclass
class Chat:
    company: Company
    channel: Channel
    conversation_id: int
    agent: User

    def reply(self, text: str = "Thanks, it ships today.") -> Message:
        """The agent's reply, stored and enqueued exactly as the API and console do it."""
        return send_agent_reply(self.conversation_id, self.agent, text)


@pytest.fixture
def make_chat(
    transactional_db: Any, make_user: Callable[..., User]
) -> Iterator[Callable[..., Chat]]:
    """An open chat on a new channel of `provider`, offered to an available agent.

    The customer's first message comes from the provider's webhook fixture; the channel's
    `config` is what the test passes (its provider server's URL and credentials).
    """
    from routing_service.tenancy import actions as tenancy_actions

    counter = {"n": 0}

    def make(provider: str, config: dict[str, Any], *, secret: str = SECRET) -> Chat:
        counter["n"] += 1
        n = counter["n"]
        company = tenancy_actions.create_company(f"Outbound {n}", f"outbound-{n}")
        # Speaks the fixtures' languages and has their category, so the router offers at once.
        agent = make_user(
            company,
            Role.AGENT,
            first_name="Grace",
            last_name="Hopper",
            status=AgentStatus.AVAILABLE,
            languages=["en", "de"],
            skills=["shipping"],
        )
        channel = Channel.objects.create(
            company=company, name=f"{provider} {n}", provider=provider, secret=secret, config=config
        )
        result = receive_inbound_message(channel, inbound_from_fixture(provider))
        assert result.conversation_id is not None
        assert (
            ChatAssignment.objects.unscoped()
            .filter(conversation_id=result.conversation_id, agent=agent)
            .exists()
        ), "the router did not offer the chat to the agent"
        return Chat(company, channel, result.conversation_id, agent)

    yield make
