"""Real `run_sla_timer` processes against the test database: two at once, one killed and
restarted mid-run — every warning and breach still fires exactly once, within a second, and is
published exactly once (a timer killed between its commit and its publish leaves the events
to the outbox relay that every timer runs)."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest
import redis
from django.utils import timezone

from events.models import OutboxEvent
from events.relay import relay_once
from routing_service.chats.models import AssignmentEvent, Conversation
from sla_engine.models import ChatSLA, SlaTimer
from tests.sla_engine.conftest import sla_events
from tests.support.crashes import run_django
from tests.support.processes import child_env, manage, running, stop, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHATS = 40


def test_two_timers_and_a_restart_fire_every_warning_and_breach_once_on_time(
    make_policy: Callable[..., ChatSLA],
    receive: Callable[..., Conversation],
    redis_client: redis.Redis,
) -> None:
    # 1-minute targets on a 24/7 calendar; the warning at 95 %: 57 s in, the breach 3 s later.
    policy = make_policy(
        always=True, first_response_minutes=1, resolution_minutes=1, warning_percent=95
    )
    # Backdate the chats so that their warnings fall 10-12 s from now, the breaches 13-15 s.
    first_warning = timezone.now() + dt.timedelta(seconds=10)
    for n in range(CHATS):
        received = first_warning - dt.timedelta(seconds=57) + dt.timedelta(seconds=2 * n / CHATS)
        receive(f"client-{n}", at=received)
    assert SlaTimer.objects.filter(fired_at__isnull=True).count() == CHATS * 4

    env = child_env(OUTBOX_RELAY_AFTER_MS="300", OUTBOX_RELAY_INTERVAL_MS="100")
    timer_args = ("run_sla_timer", "--metrics-every=0", "--batch-size=16")
    with running(
        manage(*timer_args, "--name=t1", env=env), manage(*timer_args, "--name=t2", env=env)
    ) as timers:
        # Once every warning is out, and before the first breach, kill t1 outright and restart it.
        wait_for(lambda: len(sla_events(redis_client, policy.company_id)) >= CHATS * 2, 30, 0.02)
        assert timezone.now() < first_warning + dt.timedelta(seconds=3), "too slow to test"
        stop(timers[0], signal.SIGKILL)
        timers.append(manage(*timer_args, "--name=t1-restarted", env=env))
        wait_for(lambda: not SlaTimer.objects.filter(fired_at__isnull=True).exists(), 30, 0.05)
        # What the kill left between a commit and its publish, the relays publish.
        wait_for(lambda: len(sla_events(redis_client, policy.company_id)) >= CHATS * 4, 10, 0.05)
        time.sleep(0.5)  # anything still in flight would show up as a duplicate now

    logged = Counter(
        AssignmentEvent.objects.filter(action__in=["sla_warning", "sla_breached"]).values_list(
            "conversation_id", "data__kind", "action"
        )
    )
    assert len(logged) == CHATS * 4 and set(logged.values()) == {1}
    published = Counter(
        (e["data"]["conversation_id"], e["data"]["kind"], e["type"])
        for e in sla_events(redis_client, policy.company_id)
    )
    assert len(published) == CHATS * 4 and set(published.values()) == {1}
    late = [
        fired - due
        for due, fired in SlaTimer.objects.values_list("due_at", "fired_at")
        if fired - due > dt.timedelta(seconds=1)
    ]
    assert late == []
    for event in sla_events(redis_client, policy.company_id):
        lag = dt.datetime.fromisoformat(event["at"]) - dt.datetime.fromisoformat(
            event["data"]["scheduled_at"]
        )
        assert lag < dt.timedelta(seconds=1)


# A timer that dies right after committing a batch, before publishing it (what a kill -9 at
# that instant leaves): fire_due with the outbox's fast path replaced by an immediate exit.
_FIRE_THEN_DIE = """
import os
from events import outbox
from sla_engine.firing import fire_due
outbox.publish_rows = lambda rows: os._exit(9)
fire_due()
"""


def test_timer_killed_between_commit_and_publish_loses_no_event(
    make_policy: Callable[..., ChatSLA],
    receive: Callable[..., Conversation],
    redis_client: redis.Redis,
) -> None:
    policy = make_policy(always=True, first_response_minutes=1, resolution_minutes=1)
    for n in range(3):
        receive(f"client-{n}", at=timezone.now() - dt.timedelta(minutes=5))  # all overdue

    child = run_django(_FIRE_THEN_DIE)
    assert child.returncode == 9, child.stderr.decode()
    fired = AssignmentEvent.objects.filter(action__in=["sla_warning", "sla_breached"]).count()
    assert fired == 3 * 4  # committed: warning and breach of both targets, for each chat
    assert sla_events(redis_client, policy.company_id) == []  # but not published

    assert relay_once(older_than_ms=0) >= fired
    published = Counter(
        (e["data"]["conversation_id"], e["data"]["kind"], e["type"])
        for e in sla_events(redis_client, policy.company_id)
    )
    assert len(published) == fired and set(published.values()) == {1}
    assert not OutboxEvent.objects.exists()
