"""Delivery outcome actions: claims, leases and state transitions of an outbound message.

No worker here: the actions are called directly, as the actor calls them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routing_service.chats.models import DeliveryStatus, Message
from routing_service.outbound import delivery
from tests.outbound.conftest import Chat

MakeChat = Callable[..., Chat]
CONFIG = {"callback_url": "http://127.0.0.1:9/hooks"}


def fresh(message: Message) -> Message:
    return Message.objects.unscoped().get(pk=message.pk)


def test_an_attempt_is_claimed_once_until_its_lease_expires(make_chat: MakeChat) -> None:
    reply = make_chat("generic", CONFIG).reply()

    job = delivery.begin_attempt(reply.pk, now=1000.0)
    with pytest.raises(delivery.DeliveryBusy) as busy:
        delivery.begin_attempt(reply.pk, now=1010.0)
    # A worker that died mid-send frees the message when its lease runs out.
    again = delivery.begin_attempt(reply.pk, now=1000.0 + delivery.LEASE_SECONDS + 1)

    assert job is not None and again is not None
    assert busy.value.retry_after == pytest.approx(delivery.LEASE_SECONDS - 10)
    assert fresh(reply).delivery_attempts == 2


def test_the_same_task_redelivered_takes_over_its_own_lease(make_chat: MakeChat) -> None:
    """The broker redelivers a task only when its worker is gone: no waiting out the lease."""
    reply = make_chat("generic", CONFIG).reply()

    delivery.begin_attempt(reply.pk, now=1000.0, task_id="task-1")
    with pytest.raises(delivery.DeliveryBusy):
        delivery.begin_attempt(reply.pk, now=1005.0, task_id="task-2")  # a duplicate task
    with pytest.raises(delivery.DeliveryBusy):
        delivery.begin_attempt(reply.pk, now=1005.0)  # no task id: nothing to compare
    again = delivery.begin_attempt(reply.pk, now=1005.0, task_id="task-1")

    assert again is not None
    message = fresh(reply)
    assert message.delivery_attempts == 2
    assert message.metadata[delivery.LEASE_TASK_KEY] == "task-1"
    assert message.metadata[delivery.LEASE_KEY] == 1005.0 + delivery.LEASE_SECONDS


def test_the_claim_carries_what_the_client_needs(make_chat: MakeChat) -> None:
    chat = make_chat("generic", CONFIG)
    reply = chat.reply("Hello Ada")

    job = delivery.begin_attempt(reply.pk)

    assert job is not None
    assert (job.provider, job.text, job.client_external_id) == ("generic", "Hello Ada", "cust-1042")
    assert (job.agent_id, job.agent_name) == (chat.agent.pk, "Grace Hopper")
    assert job.last_inbound_id == "msg-8f14e45f"
    assert job.config == CONFIG


def test_a_failed_attempt_keeps_the_message_pending_and_frees_the_lease(
    make_chat: MakeChat,
) -> None:
    reply = make_chat("generic", CONFIG).reply()
    delivery.begin_attempt(reply.pk, now=1000.0)

    assert delivery.mark_failed(reply.pk, "generic answered HTTP 503", final=False)

    message = fresh(reply)
    assert message.delivery_status == DeliveryStatus.PENDING
    assert message.delivery_error == "generic answered HTTP 503"
    assert delivery.begin_attempt(reply.pk, now=1001.0) is not None


def test_nothing_is_claimed_or_recorded_once_the_message_is_sent(make_chat: MakeChat) -> None:
    reply = make_chat("generic", CONFIG).reply()
    delivery.begin_attempt(reply.pk)
    assert delivery.mark_sent(reply.pk, "sb-1")

    assert delivery.begin_attempt(reply.pk) is None
    assert not delivery.mark_sent(reply.pk, "sb-1")
    assert not delivery.mark_failed(reply.pk, "late", final=True)
    assert not delivery.give_up(reply.pk)
    message = fresh(reply)
    assert (message.delivery_status, message.delivery_attempts) == (DeliveryStatus.SENT, 1)


def test_a_late_success_overrides_a_give_up(make_chat: MakeChat) -> None:
    reply = make_chat("generic", CONFIG).reply()
    delivery.begin_attempt(reply.pk)
    delivery.mark_failed(reply.pk, "timed out", final=False)
    assert delivery.give_up(reply.pk)
    assert fresh(reply).delivery_error == "Gave up after 1 attempt. Last error: timed out"

    assert delivery.mark_sent(reply.pk, "sb-9")

    message = fresh(reply)
    assert (message.delivery_status, message.delivery_error) == (DeliveryStatus.SENT, "")


def test_a_taken_provider_id_does_not_undo_the_send(make_chat: MakeChat) -> None:
    chat = make_chat("generic", CONFIG)
    first, second = chat.reply("one"), chat.reply("two")
    delivery.mark_sent(first.pk, "dup-1")

    assert delivery.mark_sent(second.pk, "dup-1")

    message = fresh(second)
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.provider_message_id is None
    assert message.metadata["provider_message_id"] == "dup-1"


def test_inbound_messages_are_never_delivered(make_chat: MakeChat) -> None:
    chat = make_chat("generic", CONFIG)
    inbound = Message.objects.unscoped().get(conversation_id=chat.conversation_id)
    assert delivery.begin_attempt(inbound.pk) is None


def test_a_disabled_channel_fails_the_message(make_chat: MakeChat) -> None:
    chat = make_chat("generic", CONFIG)
    reply = chat.reply()
    chat.channel.is_active = False
    chat.channel.save(update_fields=["is_active"])

    assert delivery.begin_attempt(reply.pk) is None

    message = fresh(reply)
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.delivery_error == "The channel is disabled."
