"""What the customer hears (issue 14, item 5): a queue's arrival and out-of-hours messages,
through the real router, a real dramatiq worker and a local provider server, and the action's
rules (once only, never to a chat being answered, language fallback, company wall)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import formats, timezone, translation

from routing_service.api.serializers.chats import MessageSerializer
from routing_service.chats import actions
from routing_service.chats.actions.routing import route_waiting
from routing_service.chats.models import (
    Channel,
    ChatAssignment,
    Conversation,
    DeliveryStatus,
    Message,
    Provider,
)
from routing_service.chats.payloads import message_data
from routing_service.queues import actions as queue_actions
from routing_service.queues import auto_reply
from routing_service.queues.auto_reply_actions import _store, send_auto_reply
from routing_service.queues.models import AutoReplySent, Queue
from routing_service.queues.rules import auto_reply_errors
from routing_service.queues.tasks import QUEUE
from routing_service.queues.tasks import send_auto_reply as send_auto_reply_actor
from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import Company, User
from tests.support.fixtures import RunningWorker, dramatiq_worker, provider_server  # noqa: F401
from tests.support.inbound import inbound_message
from tests.support.provider_server import ProviderServer

ALWAYS_OPEN = {"work_start": "00:00", "work_end": "24:00", "weekdays": [0, 1, 2, 3, 4, 5, 6]}
BERLIN_OFFICE = {"work_start": "09:00", "work_end": "17:00", "timezone": "Europe/Berlin"}
ARRIVAL = "You are number {{position}} in {{queue.name}}; about {{wait_minutes}} min."
CLOSED = "We are closed; back {{next_opening}}."


def configure(
    company: Company,
    *,
    calendar: dict[str, Any] | None = None,
    on_arrival: dict[str, str] | None = None,
    out_of_hours: dict[str, str] | None = None,
) -> Queue:
    queue = Queue.objects.unscoped().get(company=company, is_default=True)
    config: dict[str, Any] = {}
    if on_arrival is not None:
        config["on_arrival"] = {"enabled": True, "templates": on_arrival}
    if out_of_hours is not None:
        config["out_of_hours"] = {"enabled": True, "templates": out_of_hours}
    return queue_actions.update_queue(
        queue, calendar=calendar or ALWAYS_OPEN, auto_reply=config, members=[]
    )


def generic_channel(company: Company, server: ProviderServer | None = None) -> Channel:
    config = {"callback_url": f"{server.url}/hooks/switchboard"} if server else {}
    return Channel.objects.create(
        company=company, name="Web", provider=Provider.GENERIC, secret="s3cret", config=config
    )


def arrive(channel: Channel, client: str, **kw: Any) -> Conversation:
    result = actions.receive_inbound_message(
        channel, inbound_message(f"{client}-{kw}", client, "I need help", **kw)
    )
    return Conversation.objects.unscoped().get(pk=result.conversation_id)


def automatic(conversation: Conversation) -> list[Message]:
    return list(
        Message.objects.unscoped().filter(conversation=conversation, metadata__automatic=True)
    )


# --- pure rules ------------------------------------------------------------------------


def test_wait_is_rounded_up_and_never_below_the_longest_wait() -> None:
    assert auto_reply.wait_minutes(61.0, None, 0) == 2
    assert auto_reply.wait_minutes(None, 30.0, 0) == 1
    assert auto_reply.wait_minutes(None, None, 0) == 1
    # The forecast says 2 minutes, but someone has already waited 7.5: promise 8.
    assert auto_reply.wait_minutes(120.0, 60.0, 450.0) == 8


def test_unknown_template_variable_is_refused_naming_the_field() -> None:
    ok = {"on_arrival": {"enabled": True, "templates": {"en": "{{ position }} {{queue.name}}"}}}
    assert auto_reply_errors(ok) == {}
    bad = {"out_of_hours": {"enabled": True, "templates": {"de": "Ab {{opening}}"}}}
    errors = auto_reply_errors(bad)
    assert list(errors) == ["auto_reply.out_of_hours.templates.de"]
    assert "opening" in errors["auto_reply.out_of_hours.templates.de"][0]


def test_template_language_fallback() -> None:
    config = {"on_arrival": {"enabled": True, "templates": {"de": "DE", "en": "EN"}}}
    assert auto_reply.choose_template(config, "on_arrival", "de-AT", "en") == "DE"
    assert auto_reply.choose_template(config, "on_arrival", "fr", "en") == "EN"
    only_de = {"on_arrival": {"enabled": True, "templates": {"de": "DE"}}}
    assert auto_reply.choose_template(only_de, "on_arrival", "fr", "en") is None


# --- end to end: router → actor → outbound message → provider --------------------------


def test_arrival_message_reaches_the_provider_once_with_position_and_wait(
    transactional_db: Any,
    provider_server: ProviderServer,  # noqa: F811
    dramatiq_worker: RunningWorker,  # noqa: F811
) -> None:
    company = tenancy_actions.create_company("Acme Support", "acme-ar")
    configure(company, on_arrival={"en": ARRIVAL})
    channel = generic_channel(company, provider_server)
    first = arrive(channel, "cust-1")
    # The first customer has waited 7.5 minutes already: the second is not promised less.
    Conversation.objects.unscoped().filter(pk=first.pk).update(
        queued_at=timezone.now() - dt.timedelta(minutes=7, seconds=30)
    )
    dramatiq_worker.join(QUEUE)
    provider_server.reset()
    second = arrive(channel, "cust-2")
    dramatiq_worker.join(QUEUE)

    (request,) = provider_server.wait_for_requests(1)
    body = request.json()
    assert body["client"] == {"id": "cust-2"}
    assert body["text"] == "You are number 2 in Default; about 8 min."
    assert body["agent"] is None
    (message,) = automatic(second)
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.sender_id is None and message.kind == "message"
    assert message_data(message)["automatic"] is True
    assert message_data(message)["sender"] == "system"
    assert MessageSerializer(message).data["automatic"] is True  # the REST transcript
    # The actor runs again (a retry, a duplicate task): nothing more is sent.
    send_auto_reply_actor.send(second.pk)
    dramatiq_worker.join(QUEUE)
    assert len(provider_server.requests) == 1
    assert len(automatic(second)) == 1
    assert AutoReplySent.objects.unscoped().filter(conversation=second).count() == 1


def test_no_message_when_the_chat_is_offered_at_once(
    transactional_db: Any,
    make_user: Callable[..., User],
    provider_server: ProviderServer,  # noqa: F811
    dramatiq_worker: RunningWorker,  # noqa: F811
) -> None:
    company = tenancy_actions.create_company("Acme Support", "acme-at-once")
    agent = make_user(company, "agent", status="available")
    queue = configure(company, on_arrival={"en": ARRIVAL})
    queue_actions.update_queue(queue, members=[(agent.pk, 5)])
    chat = arrive(generic_channel(company, provider_server), "cust-1")
    dramatiq_worker.join(QUEUE)
    assert ChatAssignment.objects.unscoped().filter(conversation=chat).exists()
    assert automatic(chat) == []
    assert provider_server.requests == []


# --- the action's rules ---------------------------------------------------------------


@pytest.mark.django_db
def test_not_sent_when_answered_before_the_actor_runs(
    company_a: Company, make_user: Callable[..., User]
) -> None:
    queue = configure(company_a, on_arrival={"en": ARRIVAL})
    chat = arrive(generic_channel(company_a), "cust-1")
    agent = make_user(company_a, "agent", status="available")
    queue_actions.update_queue(queue, members=[(agent.pk, 5)])  # routes the waiting chat
    route_waiting(company_a.pk)
    assert ChatAssignment.objects.unscoped().filter(conversation=chat).exists()

    assert send_auto_reply(chat.pk) is None
    assert automatic(chat) == []


@pytest.mark.django_db
def test_out_of_hours_message_names_the_next_opening_in_the_queue_zone(
    company_a: Company,
) -> None:
    configure(
        company_a,
        calendar=BERLIN_OFFICE,
        on_arrival={"en": ARRIVAL},
        out_of_hours={"en": CLOSED, "de": "Geschlossen; ab {{next_opening}}."},
    )
    channel = generic_channel(company_a)
    saturday_noon = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
    monday_nine = dt.datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))

    english = send_auto_reply(arrive(channel, "cust-en").pk, now=saturday_noon)
    german = send_auto_reply(arrive(channel, "cust-de", language="de").pk, now=saturday_noon)

    assert english is not None and german is not None
    with translation.override("en"):
        en_when = formats.date_format(monday_nine, "DATETIME_FORMAT")
    with translation.override("de"):
        de_when = formats.date_format(monday_nine, "DATETIME_FORMAT")
    assert en_when != de_when
    assert english.text == f"We are closed; back {en_when} (CET)."
    assert german.text == f"Geschlossen; ab {de_when} (CET)."
    assert english.metadata["auto_reply"] == "out_of_hours"
    # Inside the hours the same queue sends the arrival message instead.
    monday_ten_berlin = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    inside = send_auto_reply(arrive(channel, "cust-3").pk, now=monday_ten_berlin)
    assert inside is not None and inside.metadata["auto_reply"] == "on_arrival"


@pytest.mark.django_db
def test_language_fallback_to_default_then_built_in_text(company_a: Company) -> None:
    configure(company_a, on_arrival={"en": "EN {{position}}", "de": "DE {{position}}"})
    channel = generic_channel(company_a)
    german = send_auto_reply(arrive(channel, "c1", language="de-AT").pk)
    french = send_auto_reply(arrive(channel, "c2", language="fr").pk)
    assert german is not None and german.text == "DE 1"
    assert french is not None and french.text == "EN 2"

    configure(company_a, on_arrival={"de": "DE {{position}}"})
    built_in = send_auto_reply(arrive(channel, "c3", language="fr").pk)
    assert built_in is not None
    assert built_in.text.startswith("Thanks for your message. You are number 3 in the queue")
    assert "{{" not in built_in.text


@pytest.mark.django_db
def test_exactly_once_even_when_two_workers_store_it(company_a: Company) -> None:
    configure(company_a, on_arrival={"en": ARRIVAL})
    chat = arrive(generic_channel(company_a), "cust-1")
    now = timezone.now()
    assert _store(chat.pk, company_a.pk, "on_arrival", "first", now) is not None
    # A racing worker that passed the early check still loses on the unique row.
    assert _store(chat.pk, company_a.pk, "on_arrival", "second", now) is None
    assert send_auto_reply(chat.pk) is None
    assert [m.text for m in automatic(chat)] == ["first"]


@pytest.mark.django_db
def test_companies_do_not_see_each_others_queue_or_settings(
    company_a: Company, company_b: Company
) -> None:
    configure(company_a, on_arrival={"en": "{{position}} {{company.name}}"})
    configure(company_b)  # no auto-reply
    channel_a, channel_b = generic_channel(company_a), generic_channel(company_b)
    for n in range(3):
        arrive(channel_b, f"b-{n}")
    b_chat = arrive(channel_b, "b-last")
    a_chat = arrive(channel_a, "a-1")

    assert send_auto_reply(b_chat.pk) is None
    sent = send_auto_reply(a_chat.pk)
    assert sent is not None and sent.text == "1 Acme Support"
    assert AutoReplySent.objects.unscoped().filter(company=company_b).count() == 0
    assert list(AutoReplySent.objects.unscoped().values_list("company_id", flat=True)) == [
        company_a.pk
    ]


@pytest.mark.django_db
def test_the_router_batch_costs_no_extra_query_with_auto_replies_on(
    company_a: Company, company_b: Company
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    configure(company_a, on_arrival={"en": ARRIVAL})
    configure(company_b)
    counts = []
    for company in (company_a, company_b):
        channel = generic_channel(company)
        arrive(channel, "warm-up")  # loads the queue configuration into the cache
        with CaptureQueriesContext(connection) as queries:
            arrive(channel, "measured")
        counts.append(len(queries) - 1)  # the test's own read of the conversation
    assert counts[0] == counts[1]
