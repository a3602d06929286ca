"""Read receipts: the agent opening a WhatsApp chat marks the customer's last message read
through the Cloud API — once, in the documented shape, through the guarded HTTP client; other
providers, other people and blocked addresses get nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from routing_service.chats.actions import mark_read
from routing_service.chats.actions.read_receipts import RECEIPT_KEY
from routing_service.chats.models import Message, MessageDirection
from routing_service.outbound.tasks import QUEUE
from routing_service.tenancy.models import Role, User
from tests.outbound.conftest import Chat
from tests.support.fixtures import RunningWorker
from tests.support.provider_server import ProviderServer

MakeChat = Callable[..., Chat]


def whatsapp_chat(make_chat: MakeChat, server: ProviderServer) -> Chat:
    return make_chat(
        "whatsapp",
        {
            "api_base_url": server.url,
            "phone_number_id": "106540352242922",
            "access_token": "EAAG-access-token",
            "verify_token": "verify-me",
        },
    )


def customer_message(chat: Chat) -> Message:
    return Message.objects.unscoped().get(
        conversation_id=chat.conversation_id, direction=MessageDirection.INBOUND
    )


def test_opening_a_whatsapp_chat_marks_the_last_message_read_once(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = whatsapp_chat(make_chat, provider_server)
    wamid = customer_message(chat).provider_message_id

    # Opened on two consoles, and again later: one receipt.
    for _ in range(3):
        mark_read(chat.agent, conversation_id=chat.conversation_id)
    dramatiq_worker.join(QUEUE)

    (request,) = provider_server.requests
    assert request.route == "/106540352242922/messages"
    assert request.header("authorization") == "Bearer EAAG-access-token"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    assert customer_message(chat).metadata[RECEIPT_KEY] == "sent"


def test_no_receipt_for_other_providers_or_for_someone_not_holding_the_chat(
    make_chat: MakeChat,
    make_user: Callable[..., User],
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
) -> None:
    chat = whatsapp_chat(make_chat, provider_server)
    supervisor = make_user(chat.company, Role.SUPERVISOR, username="sup-receipts")
    mark_read(supervisor, conversation_id=chat.conversation_id)
    generic = make_chat("generic", {"callback_url": f"{provider_server.url}/callback"})
    mark_read(generic.agent, conversation_id=generic.conversation_id)
    dramatiq_worker.join(QUEUE)

    assert provider_server.requests == []
    assert RECEIPT_KEY not in customer_message(chat).metadata
    assert RECEIPT_KEY not in customer_message(generic).metadata


def test_a_receipt_to_a_blocked_address_is_refused_and_recorded(
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
    settings: Any,
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = []  # loopback is private: the guard refuses it
    chat = whatsapp_chat(make_chat, provider_server)

    mark_read(chat.agent, conversation_id=chat.conversation_id)
    dramatiq_worker.join(QUEUE)

    assert provider_server.requests == []
    assert customer_message(chat).metadata[RECEIPT_KEY] == "failed"


@pytest.mark.django_db(transaction=True)
def test_company_b_cannot_mark_company_a_chats_read(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat_a = whatsapp_chat(make_chat, provider_server)
    chat_b = whatsapp_chat(make_chat, provider_server)
    from routing_service.chats.actions import ActionError

    with pytest.raises(ActionError):
        mark_read(chat_b.agent, conversation_id=chat_a.conversation_id)
    dramatiq_worker.join(QUEUE)
    assert provider_server.requests == []
