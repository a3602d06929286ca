"""Attachment fixtures: chats opened by a provider's real-shaped media webhook, with the channel
pointed at the local provider stand-in, which serves the media the way each provider's API
hands it out (look-up, then download)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from routing_service.attachments.models import Attachment
from routing_service.chats.actions import receive_inbound_message
from routing_service.chats.models import Channel, ChatAssignment, Message
from routing_service.ingest.adapters import InboundMessage
from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.attachments import media
from tests.support.fixtures import dramatiq_worker, provider_server  # noqa: F401
from tests.support.inbound import WEBHOOK_FIXTURES, parse_webhook
from tests.support.provider_server import ProviderServer, Reply

FIXTURES = WEBHOOK_FIXTURES
SECRET = "attachment-channel-secret-0123456789"
BOT_TOKEN = "123456:ABC-attachments-bot-token"
WA_TOKEN = "EAAG-whatsapp-access-token"
TWILIO_SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
TWILIO_MEDIA_PATH = (
    f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM8dd3d2a3bb7a4f6e9b3b2f5e1c9a7d40"
    "/Media/ME96ab2c07a1f2e8b9d4c3e6f0a1b2c3d4"
)

# Provider → (fixture, channel config without the server URL).
MEDIA_FIXTURES = {
    "generic": "attachments",
    "twilio": "mms_inbound",
    "whatsapp": "image_message",
    "telegram": "message_photo",
}


@pytest.fixture(autouse=True)
def _own_media_root(settings: Any, tmp_path: Path) -> None:
    """Each test stores its files in a folder of its own (ids repeat between tests)."""
    settings.MEDIA_ROOT = tmp_path / "media"


def parse_fixture(provider: str, name: str, server: ProviderServer) -> InboundMessage:
    """The provider's webhook fixture, parsed by its adapter, with the provider's public
    hosts pointed at the local stand-in."""
    raw = (FIXTURES / provider / f"{name}.json").read_text()
    raw = raw.replace("https://files.example.com", server.url)
    raw = raw.replace("https://api.twilio.com", server.url)
    return parse_webhook(provider, raw)


def serve_provider_media(provider: str, server: ProviderServer, files: dict[str, bytes]) -> None:
    """Answer the provider's media API for the fixture's files.

    `files` maps the provider's reference (media id, file id, URL path) to the bytes.
    """
    for ref, data in files.items():
        if provider == "whatsapp":
            # GET /<version>/<media id> → {url, ...}; the url needs the same bearer token.
            download = server.serve(f"/whatsapp-cdn/{ref}", Reply(200, data))
            server.serve(
                f"/v21.0/{ref}",
                Reply(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "url": download,
                        "mime_type": "image/jpeg",
                        "file_size": len(data),
                        "id": ref,
                    },
                ),
            )
        elif provider == "telegram":
            server.serve(
                f"/bot{BOT_TOKEN}/getFile",
                Reply(200, {"ok": True, "result": {"file_id": ref, "file_path": "photos/f.jpg"}}),
            )
            server.serve(f"/file/bot{BOT_TOKEN}/photos/f.jpg", Reply(200, data))
        elif provider == "twilio":
            # Twilio's media URL redirects to its CDN.
            cdn = server.serve(f"/twilio-cdn{ref}", Reply(200, data))
            server.serve(ref, Reply(307, b"", {"Location": cdn}))
        else:
            server.serve(ref, Reply(200, data))


def channel_config(provider: str, server: ProviderServer) -> dict[str, Any]:
    return {
        "generic": {"callback_url": f"{server.url}/callback"},
        "twilio": {"account_sid": TWILIO_SID, "api_base_url": server.url},
        "whatsapp": {
            "phone_number_id": "106540352242922",
            "access_token": WA_TOKEN,
            "api_base_url": f"{server.url}/v21.0",
        },
        "telegram": {"bot_token": BOT_TOKEN, "api_base_url": server.url},
    }[provider]


def fixture_files(provider: str) -> dict[str, bytes]:
    """The files each media fixture names, as the provider would serve them."""
    return {
        "generic": {"/uploads/parcel.png": media.png(), "/uploads/receipt.pdf": media.pdf()},
        "twilio": {TWILIO_MEDIA_PATH: media.png()},
        "whatsapp": {"1003383421387256": media.png()},
        "telegram": {"AgACAgIAAxkBAAIBZ2Zx2": media.png()},
    }[provider]


@dataclass
class MediaChat:
    company: Company
    channel: Channel
    agent: User
    conversation_id: int
    message: Message

    @property
    def attachments(self) -> list[Attachment]:
        return list(Attachment.objects.unscoped().filter(message=self.message).order_by("pk"))


@pytest.fixture
def media_chat(
    transactional_db: Any,
    make_user: Callable[..., User],
    provider_server: ProviderServer,  # noqa: F811
) -> Callable[..., MediaChat]:
    """A chat opened by `provider`'s media fixture through the router's inbound action, with
    an available agent holding it."""
    counter = {"n": 0}

    def make(
        provider: str,
        fixture: str | None = None,
        *,
        company: Company | None = None,
        serve: bool = True,
    ) -> MediaChat:
        counter["n"] += 1
        n = counter["n"]
        if company is None:
            company = tenancy_actions.create_company(f"Media {n}", f"media-{n}")
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
            company=company,
            name=f"{provider} {n}",
            provider=provider,
            secret=SECRET,
            config=channel_config(provider, provider_server),
        )
        if serve:
            serve_provider_media(provider, provider_server, fixture_files(provider))
        inbound = parse_fixture(provider, fixture or MEDIA_FIXTURES[provider], provider_server)
        result = receive_inbound_message(channel, inbound)
        assert result.conversation_id is not None and result.message_id is not None
        assert (
            ChatAssignment.objects.unscoped()
            .filter(conversation_id=result.conversation_id, agent=agent)
            .exists()
        )
        message = Message.objects.unscoped().get(pk=result.message_id)
        return MediaChat(company, channel, agent, result.conversation_id, message)

    return make
