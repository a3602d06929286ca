"""The `transfer` action names a queue: its id moves the chat there; another company's queue
is refused with the field; the chat's events carry its queue."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routing_service.queues import actions as queue_actions
from routing_service.queues.models import Queue
from routing_service.tenancy.models import Company, User
from tests.realtime.test_actions import Open, console, db

pytestmark = pytest.mark.django_db(transaction=True)


async def test_transfer_to_a_named_queue_over_the_socket(
    ws: Open,
    make_agent: Callable[..., User],
    company_a: Company,
    company_b: Company,
    channel_a,
    inbound,
) -> None:
    agent = await db(make_agent, company_a)
    chat = await db(inbound, channel_a, "client-1")
    sales = await db(queue_actions.create_queue, company_a.pk, name="Sales")
    foreign = await db(lambda: Queue.objects.unscoped().get(company=company_b, is_default=True))
    sock, _ = await console(ws, agent)
    await sock.request("accept", conversation_id=chat)

    refused = await sock.request("transfer", conversation_id=chat, to_queue=foreign.pk)
    assert refused["type"] == "error" and refused["data"]["field"] == "to_queue"
    bad = await sock.request("transfer", conversation_id=chat, to_queue="sales")
    assert bad["type"] == "error" and bad["data"]["field"] == "to_queue"

    ack = await sock.request("transfer", conversation_id=chat, to_queue=sales.pk, reason="sales")
    assert ack["type"] == "ack"
    transferred = await sock.event_for("chat.transferred", chat)
    assert transferred["data"]["queue"] == {"id": sales.pk, "name": "Sales"}
