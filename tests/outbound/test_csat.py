"""Satisfaction surveys end to end, per provider: resolve → the survey reaches the local
provider server in the provider's shape (buttons where it has them) → the customer's answer,
parsed by the provider's own adapter, is recorded on the resolved chat without reopening it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from analytics.metrics import figures_by_agent, load_facts
from routing_service.chats.actions import receive_inbound_message, resolve_assignment
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    Client,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
)
from routing_service.ingest.adapters import ADAPTERS, InboundMessage, WebhookRequest
from routing_service.outbound.tasks import QUEUE
from tests.outbound.conftest import FIXTURES, Chat, inbound_from_fixture
from tests.support.fixtures import RunningWorker
from tests.support.provider_server import ProviderServer

MakeChat = Callable[..., Chat]
SURVEY = {"enabled": True, "question": "How did we do? Answer 1 to 5."}


def config_for(provider: str, server: ProviderServer) -> tuple[dict[str, Any], str]:
    if provider == "generic":
        return {"callback_url": f"{server.url}/hooks/switchboard"}, "generic-signing-secret-0123"
    if provider == "twilio":
        return {"api_base_url": server.url, "account_sid": "AC0123"}, "twilio-auth-token"
    if provider == "whatsapp":
        return {
            "api_base_url": server.url,
            "phone_number_id": "106540352242922",
            "access_token": "EAAG-access-token",
            "verify_token": "verify-me",
        }, "whatsapp-app-secret"
    return {"api_base_url": server.url, "bot_token": "123:ABC-x"}, "telegram-secret"


def parse(provider: str, payload: dict[str, Any]) -> InboundMessage:
    """A customer message as the provider's webhook brings it, read by its adapter."""
    body = json.dumps(payload).encode()
    content_type = "application/json"
    if provider == "twilio":
        body = urlencode(payload).encode()
        content_type = "application/x-www-form-urlencoded"
    request = WebhookRequest(
        method="POST",
        url=f"https://switchboard.example.com/webhooks/{provider}/x/",
        headers={"content-type": content_type},
        body=body,
        content_type=content_type,
    )
    return ADAPTERS[provider].parse(request).messages[0]


def fixture(provider: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / provider / f"{name}.json").read_text())


def answer_for(provider: str) -> tuple[InboundMessage, int, str]:
    """The customer's answer to the survey, as each provider delivers it."""
    if provider == "telegram":  # a tap on the inline keyboard: a callback query
        return inbound_from_fixture("telegram", "callback_query_csat"), 4, ""
    if provider == "whatsapp":  # a row picked from the interactive list
        return inbound_from_fixture("whatsapp", "interactive_list_reply"), 5, ""
    if provider == "twilio":
        sms = fixture("twilio", "sms_inbound")
        sms.update(
            Body="4 - quick and friendly", MessageSid="SM" + "a" * 32, SmsSid="SM" + "a" * 32
        )
        return parse("twilio", sms), 4, "quick and friendly"
    generic = fixture("generic", "message")
    generic.update(message_id="msg-answer", text="4 quick and friendly", priority=None)
    generic.pop("priority")
    return parse("generic", generic), 4, "quick and friendly"


def resolve(chat: Chat) -> None:
    assignment = ChatAssignment.objects.unscoped().get(
        conversation_id=chat.conversation_id, status__in=ACTIVE_ASSIGNMENT_STATUSES
    )
    resolve_assignment(assignment.pk, chat.agent)


def assert_survey_shape(provider: str, request: Any) -> None:
    if provider == "telegram":
        body = request.json()
        assert body["text"] == SURVEY["question"]
        keyboard = body["reply_markup"]["inline_keyboard"]
        assert [row[0]["callback_data"] for row in keyboard] == [
            f"csat:{n}" for n in (5, 4, 3, 2, 1)
        ]
    elif provider == "whatsapp":
        body = request.json()
        assert body["type"] == "interactive"
        assert body["interactive"]["type"] == "list"
        assert body["interactive"]["body"]["text"] == SURVEY["question"]
        rows = body["interactive"]["action"]["sections"][0]["rows"]
        assert [r["id"] for r in rows] == [f"csat:{n}" for n in (5, 4, 3, 2, 1)]
        assert all(len(r["title"]) <= 24 for r in rows)
    elif provider == "twilio":
        assert request.form()["Body"] == SURVEY["question"]
    else:
        body = request.json()
        assert body["text"] == SURVEY["question"]
        assert body["agent"] is None
        assert [q["id"] for q in body["quick_replies"]] == [f"csat:{n}" for n in (5, 4, 3, 2, 1)]


@pytest.mark.parametrize("provider", ["generic", "twilio", "whatsapp", "telegram"])
def test_survey_goes_out_after_resolve_and_the_answer_rates_without_reopening(
    provider: str,
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
) -> None:
    config, secret = config_for(provider, provider_server)
    chat = make_chat(provider, {**config, "csat": SURVEY}, secret=secret)

    resolve(chat)
    dramatiq_worker.join(QUEUE)

    (request,) = provider_server.requests
    assert_survey_shape(provider, request)
    survey = Message.objects.unscoped().get(
        conversation_id=chat.conversation_id, direction="outbound"
    )
    assert survey.delivery_status == DeliveryStatus.SENT
    assert survey.metadata["csat_survey"] is True

    answer, rating, comment = answer_for(provider)
    result = receive_inbound_message(chat.channel, answer)

    conversation = Conversation.objects.unscoped().get(pk=chat.conversation_id)
    assert result.conversation_id == chat.conversation_id
    assert not result.new_conversation
    assert conversation.status == ConversationStatus.RESOLVED
    assert (conversation.csat_rating, conversation.csat_comment) == (rating, comment)
    assert conversation.csat_answered_at is not None
    assert Conversation.objects.unscoped().filter(client_id=conversation.client_id).count() == 1
    client = Client.objects.unscoped().get(pk=conversation.client_id)
    assert client.csat_conversation_id is None  # one answer per survey
    # The daily roll-up counts it, for the company and the agent who resolved the chat.
    day = conversation.created_at.astimezone(dt.UTC).date()
    figures = figures_by_agent(load_facts(chat.company.pk, day))
    for key in (None, chat.agent.pk):
        assert figures[key].csat_responses == 1
        assert figures[key].csat_average == rating
        assert figures[key].csat_satisfied_rate == 1.0


def test_a_second_message_after_the_answer_opens_a_new_chat(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    config, secret = config_for("generic", provider_server)
    chat = make_chat("generic", {**config, "csat": SURVEY}, secret=secret)
    resolve(chat)
    answer, _, _ = answer_for("generic")
    receive_inbound_message(chat.channel, answer)

    again = fixture("generic", "message")
    again.update(message_id="msg-again", text="5")
    result = receive_inbound_message(chat.channel, parse("generic", again))

    assert result.new_conversation
    assert Conversation.objects.unscoped().get(pk=chat.conversation_id).csat_rating == 4


def test_a_message_that_is_not_an_answer_ends_the_survey_and_opens_a_chat(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    config, secret = config_for("generic", provider_server)
    chat = make_chat("generic", {**config, "csat": SURVEY}, secret=secret)
    resolve(chat)

    other = fixture("generic", "message")
    other.update(message_id="msg-other", text="Actually, one more question")
    result = receive_inbound_message(chat.channel, parse("generic", other))
    late = fixture("generic", "message")
    late.update(message_id="msg-late", text="3")
    receive_inbound_message(chat.channel, parse("generic", late))

    assert result.new_conversation
    assert Conversation.objects.unscoped().get(pk=chat.conversation_id).csat_rating is None
    assert Message.objects.unscoped().get(provider_message_id="msg-late").conversation_id == (
        result.conversation_id
    )


def test_an_answer_after_the_window_is_a_new_chat(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    config, secret = config_for("generic", provider_server)
    chat = make_chat("generic", {**config, "csat": SURVEY}, secret=secret)
    resolve(chat)
    Client.objects.unscoped().filter(csat_conversation_id=chat.conversation_id).update(
        csat_due_at=timezone.now() - dt.timedelta(minutes=1)
    )

    answer, _, _ = answer_for("generic")
    result = receive_inbound_message(chat.channel, answer)

    assert result.new_conversation
    assert Conversation.objects.unscoped().get(pk=chat.conversation_id).csat_rating is None


def test_no_survey_unless_the_channel_opted_in(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    config, secret = config_for("telegram", provider_server)
    chat = make_chat("telegram", {**config, "csat": {"enabled": False}}, secret=secret)

    resolve(chat)
    dramatiq_worker.join(QUEUE)

    assert provider_server.requests == []
    answer, _, _ = answer_for("telegram")
    assert receive_inbound_message(chat.channel, answer).new_conversation
