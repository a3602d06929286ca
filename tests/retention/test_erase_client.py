"""`erase_client`: nothing of the customer's remains in any table, stored file or Redis key,
another client's data (and every aggregate) is untouched, and a second run is a no-op."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
import redis
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import models
from django.utils import timezone

from analytics.models import ChatResponseTracking, ChatSession
from events.log import publish_now
from events.models import OutboxEvent
from events.schema import EventType, make_event
from routing_service.attachments.models import Attachment, AttachmentSource, AttachmentStatus
from routing_service.chats.models import (
    ChatNotification,
    Client,
    Conversation,
    Message,
    MessageKind,
    Whisper,
)
from routing_service.chats.workspace_models import ClientNote
from routing_service.ingest import stream
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.retention.erasure import erase_client
from routing_service.retention.models import ErasureRecord
from routing_service.router.models import DeadLetter
from routing_service.tenancy.models import Company, User
from tests.tenancy.world import World, build_world

EMAIL = "jane.doe@example.org"
PHONE = "+4915112345678"
SECRET_WORDS = "my card number is 4111"


def _inbound(world: World, text: str, mid: str) -> bytes:
    message = InboundMessage(
        provider="generic",
        provider_message_id=mid,
        client_external_id=world.client.external_id,
        client_name=world.client.name,
        client_email=world.client.email or None,
        text=text,
        sent_at=timezone.now(),
    )
    entry = stream.InboundEntry(
        channel_id=world.channel.pk,
        company_id=world.company.pk,
        received_at=timezone.now(),
        message=message,
    )
    return stream.encode(entry)


def _personalise(world: World, agent: User, tag: str) -> dict[str, Any]:
    """Give the world's client personal data in every place it can live; return handles."""
    client, conversation = world.client, world.conversation
    n = {"jane": 1, "john": 2, "globex": 3}[tag]
    Client.objects.unscoped().filter(pk=client.pk).update(
        email=f"{tag}.{EMAIL}",
        phone=f"{PHONE}{n}",
        metadata={"ip": f"10.1.2.{n}"},
        attributes={"plan": f"{tag}-gold"},
    )
    client.refresh_from_db()
    Conversation.objects.unscoped().filter(pk=conversation.pk).update(
        csat_rating=2, csat_comment=f"{tag} {SECRET_WORDS}"
    )
    Message.objects.create(
        company=world.company,
        conversation=conversation,
        channel=world.channel,
        direction="outbound",
        kind=MessageKind.NOTE,
        text=f"note: {tag} {SECRET_WORDS}",
        sent_at=timezone.now(),
        sender=agent,
    )
    Message.objects.unscoped().filter(pk=world.message.pk).update(
        text=f"{tag} {SECRET_WORDS}", metadata={"from": client.email}
    )
    name = default_storage.save(f"attachments/{world.company.pk}/{tag}-passport", ContentFile(b"x"))
    attachment = Attachment.objects.create(
        company=world.company,
        message=world.message,
        source=AttachmentSource.URL,
        name=f"{tag}-passport.png",
        status=AttachmentStatus.READY,
        storage_name=name,
        size=1,
    )
    ClientNote.objects.create(company=world.company, client=client, text=f"{tag} is difficult")
    Whisper.objects.create(
        company=world.company,
        conversation=conversation,
        author=agent,
        recipient=agent,
        text=f"careful with {tag}",
        created_at=timezone.now(),
    )
    ChatSession.objects.unscoped().filter(pk=world.session.pk).update(
        conversation=conversation,
        full_transcript=f"{tag} {SECRET_WORDS}",
        initial_msg=f"{tag} hi",
        ip_address=f"10.1.2.{n}",
    )
    imported = ChatSession.objects.create(
        company=world.company,
        data_source=world.data_source,
        session_id=f"{tag}-imported",
        start_time=timezone.now(),
        end_time=timezone.now(),
        full_transcript=f"User: write to me at {client.email}",
        ip_address="10.9.9.9",
    )
    data = {"conversation_id": conversation.pk, "text": f"{tag} {SECRET_WORDS}"}
    publish_now([make_event(EventType.CHAT_MESSAGE, world.company.pk, data, queue=True)])
    OutboxEvent.objects.create(
        company_id=world.company.pk,
        event_id=f"{tag}1",
        type="chat.message",
        at="now",
        groups="x",
        data=json.dumps(data),
    )
    payload = _inbound(world, f"{tag} {SECRET_WORDS}", f"{tag}-mid")
    conn = redis.Redis.from_url(_redis_url())
    shard = stream.shard_of(world.company.pk)
    conn.xadd(stream.stream_key(shard), {"e": payload})
    conn.xadd(stream.dead_letter_key(shard), {"e": payload, "error": "boom"})
    DeadLetter.objects.create(
        stream=stream.stream_key(shard),
        entry_id=f"1-{tag}",
        company=world.company,
        payload=payload.decode(),
        error="boom",
        attempts=3,
    )
    return {"file": name, "attachment": attachment.pk, "imported": imported.pk, "tag": tag}


def _redis_url() -> str:
    from django.conf import settings

    return str(settings.REDIS_URL)


def _all_text(exclude_erasure: bool = True) -> str:
    """Every text-like column of every row of every model, plus every Redis value of the run."""
    chunks: list[str] = []
    for model in apps.get_models():
        if exclude_erasure and model is ErasureRecord:
            continue
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(
                f,
                models.CharField
                | models.TextField
                | models.JSONField
                | models.GenericIPAddressField
                | models.EmailField,
            )
        ]
        if fields:
            manager = model._base_manager
            chunks.extend(json.dumps(list(manager.values_list(*fields)), default=str) for _ in [0])
    from django.conf import settings

    conn = redis.Redis.from_url(_redis_url())
    for key in conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*"):
        kind = conn.type(key)
        if kind == b"stream":
            chunks.append(repr(conn.xrange(key)))
        elif kind == b"string":
            chunks.append(repr(conn.get(key)))
    for key in conn.scan_iter(match=f"{settings.INBOUND_STREAM}*"):
        if conn.type(key) == b"stream":
            chunks.append(repr(conn.xrange(key)))
    return "\n".join(chunks)


@pytest.fixture
def worlds(
    company_a: Company, company_b: Company, make_user: Callable[..., User], redis_client: Any
) -> Any:
    stream_keys = [stream.stream_key(s) for s in range(stream.shard_count())]
    stream_keys += [stream.dead_letter_key(s) for s in range(stream.shard_count())]
    redis_client.delete(*stream_keys)
    jane = build_world(company_a, "Jane", make_user)
    john = build_world(company_a, "John", make_user, n=1)
    other = build_world(company_b, "Globex", make_user)
    handles = {
        "jane": _personalise(jane, jane.agent, "jane"),
        "john": _personalise(john, john.agent, "john"),
        "other": _personalise(other, other.agent, "globex"),
    }
    yield jane, john, other, handles
    redis_client.delete(*stream_keys)


def test_nothing_of_the_client_remains_anywhere(
    worlds: Any, django_capture_on_commit_callbacks: Any
) -> None:
    jane, john, other, handles = worlds
    before = _all_text()
    assert all(t in before for t in ("Jane Customer", "jane-ext", "jane hi", "10.1.2.1"))
    tracking = list(ChatResponseTracking.objects.unscoped().values().order_by("id"))
    message_count = Message.objects.unscoped().count()

    with django_capture_on_commit_callbacks(execute=True):  # files go after the commit
        record, counts = erase_client(jane.company, jane.client)

    after = _all_text()
    traces = [
        "Jane Customer",
        "jane-ext",
        f"jane.{EMAIL}",
        f"{PHONE}1",
        "jane-passport",
        "jane is difficult",
        "careful with jane",
        "jane hi",
        "10.1.2.1",
        "jane-gold",
    ]
    for trace in traces:
        assert trace not in after, trace
    assert f"jane {SECRET_WORDS}" not in after
    # The file is gone from storage; John's and Globex's are not.
    assert not default_storage.exists(handles["jane"]["file"])
    assert default_storage.exists(handles["john"]["file"])
    assert default_storage.exists(handles["other"]["file"])
    # Everyone else's data is intact, byte for byte.
    for tag, world in (("john", john), ("globex", other)):
        assert f"{tag} {SECRET_WORDS}" in after
        assert Message.objects.unscoped().get(pk=world.message.pk).text == f"{tag} {SECRET_WORDS}"
        assert ClientNote.objects.unscoped().filter(client=world.client).count() == 1
        assert Attachment.objects.unscoped().filter(message=world.message).count() == 1
        assert ChatNotification.objects.unscoped().filter(client=world.client).count() == 1
        assert DeadLetter.objects.filter(company=world.company).count() >= 1
    # Aggregates and the shape of the history stay: rows, ratings, counts.
    assert list(ChatResponseTracking.objects.unscoped().values().order_by("id")) == tracking
    assert Message.objects.unscoped().count() == message_count
    conversation = Conversation.objects.unscoped().get(pk=jane.conversation.pk)
    assert conversation.csat_rating == 2 and conversation.csat_comment == ""
    assert ChatSession.objects.unscoped().get(pk=handles["jane"]["imported"]).ip_address is None
    # The audit row says what was done, and nothing about whom.
    assert counts["messages"] == 2 and counts["attachment_files"] == 1
    assert counts["redis_log_entries"] >= 1 and counts["redis_stream_entries"] == 2
    assert record.client_ref == jane.client.pk
    assert "jane" not in json.dumps(record.counts).lower()


def test_erasure_is_idempotent_and_the_command_prints_what_it_removed(worlds: Any) -> None:
    jane, _john, _other, _handles = worlds
    out = StringIO()
    call_command(
        "erase_client",
        "--company",
        jane.company.slug,
        "--client",
        jane.client.external_id,
        stdout=out,
    )
    assert "messages: 2" in out.getvalue() and "redis_stream_entries: 2" in out.getvalue()
    again = StringIO()
    call_command(
        "erase_client",
        "--company",
        jane.company.slug,
        "--client",
        str(jane.client.pk),
        stdout=again,
    )
    assert "nothing left to erase" in again.getvalue()
    assert ErasureRecord.objects.for_company(jane.company).count() == 2


def test_a_company_cannot_erase_another_companys_client(
    worlds: Any, api: Any, admin_b: User
) -> None:
    jane, _john, other, _handles = worlds
    response = api(admin_b).post(f"/api/v1/clients/{jane.client.pk}/erase/")
    assert response.status_code == 404
    assert Client.objects.unscoped().get(pk=jane.client.pk).name == "Jane Customer"
    out = StringIO()
    with pytest.raises(Exception, match="no such client"):
        call_command(
            "erase_client",
            "--company",
            other.company.slug,
            "--client",
            jane.client.external_id,
            stdout=out,
        )
    with pytest.raises(Client.DoesNotExist):
        erase_client(other.company, jane.client)
    assert Client.objects.unscoped().get(pk=jane.client.pk).external_id == "jane-ext"


def test_company_admin_erases_over_rest_and_agents_may_not(
    worlds: Any, api: Any, admin_a: User, make_user: Callable[..., User]
) -> None:
    jane, _john, _other, _handles = worlds
    agent = make_user(jane.company)
    assert api(agent).post(f"/api/v1/clients/{jane.client.pk}/erase/").status_code == 403
    response = api(admin_a).post(f"/api/v1/clients/{jane.client.pk}/erase/")
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["messages"] == 2
    record = ErasureRecord.objects.get(pk=response.json()["erasure_id"])
    assert record.requested_by == admin_a
    assert Client.objects.unscoped().get(pk=jane.client.pk).name == ""


def test_erased_client_writing_again_gets_a_fresh_profile(worlds: Any) -> None:
    jane, _john, _other, _handles = worlds
    erase_client(jane.company, jane.client)
    fresh = Client.objects.create(company=jane.company, external_id="jane-ext", name="Jane again")
    assert fresh.pk != jane.client.pk
    assert (
        Client.objects.unscoped().get(pk=jane.client.pk).external_id == f"erased:{jane.client.pk}"
    )


def test_admin_action_erases_only_the_admins_company_clients(worlds: Any, admin_a: User) -> None:
    from django.test import Client as HttpClient
    from django.urls import reverse

    jane, _john, other, _handles = worlds
    browser = HttpClient()
    browser.force_login(admin_a)
    response = browser.post(
        reverse("admin:chats_client_changelist"),
        {
            "action": "erase_personal_data",
            "_selected_action": [jane.client.pk, other.client.pk],
        },
    )
    assert response.status_code == 302
    assert Client.objects.unscoped().get(pk=jane.client.pk).name == ""
    # Company B's client was not in admin A's rows: untouched.
    assert Client.objects.unscoped().get(pk=other.client.pk).name == "Globex Customer"
    assert ErasureRecord.objects.get().requested_by == admin_a
