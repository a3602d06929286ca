"""Internal notes never reach a provider: not queued, and refused by the worker if queued."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from routing_service.chats.actions import add_note
from routing_service.chats.models import DeliveryStatus, Message, MessageKind
from routing_service.outbound.tasks import QUEUE, deliver_message
from tests.outbound.conftest import Chat
from tests.support.fixtures import RunningWorker
from tests.support.provider_server import ProviderServer

MakeChat = Callable[..., Chat]


def _config(provider: str, server: ProviderServer) -> dict[str, Any]:
    return {
        "generic": {"callback_url": f"{server.url}/hooks/switchboard"},
        "telegram": {"api_base_url": server.url, "bot_token": "123:abc"},
        "whatsapp": {
            "api_base_url": server.url,
            "phone_number_id": "106540352242922",
            "access_token": "EAAG-access-token",
            "verify_token": "verify-me",
        },
        "twilio": {"api_base_url": server.url, "account_sid": "AC0123", "from_number": "+1999"},
    }[provider]


@pytest.mark.parametrize("provider", ["generic", "telegram", "whatsapp", "twilio"])
def test_a_note_is_never_sent_to_the_provider_even_when_a_task_names_it(
    provider: str,
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
) -> None:
    chat = make_chat(provider, _config(provider, provider_server))
    note = add_note(chat.conversation_id, chat.agent, "Customer sounds upset, go gently")
    # Even a task that names the note (a bug, a replayed queue) sends nothing.
    deliver_message.send(note.pk)
    dramatiq_worker.join(QUEUE)

    assert provider_server.requests == []
    note.refresh_from_db()
    assert note.kind == MessageKind.NOTE
    assert note.delivery_status == DeliveryStatus.RECEIVED
    assert note.delivery_attempts == 0

    # The same chat's reply does go out: the server was listening all along.
    reply = chat.reply("Sorry for the wait!")
    dramatiq_worker.join(QUEUE)
    assert len(provider_server.requests) == 1
    assert Message.objects.unscoped().get(pk=reply.pk).delivery_status == DeliveryStatus.SENT
