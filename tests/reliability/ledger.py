"""The ledger of a fault run: what customers were told against what the database and the event
log hold afterwards. One module for the suite's fault tests and `tests/perf/fault_ledger.py`.

Messages (from the webhooks' answers, `traffic.Posted`, and the `chats_message` rows):

* **lost**: accepted (a 2xx) but not in the database;
* **duplicated**: more than one row for one message (same provider message id, or same text);
* **unexpected**: in the database although its webhook never got a 2xx — or told "nothing was
  accepted" (`503 accepted=none`) and then "duplicate" by the retry: a refusal that was untrue;
* **out of order**: clients whose messages are not recorded in the order they were sent.

Events: every committed outbox row is also copied, by a trigger in the same transaction, to
an audit table (`install_outbox_audit`), which therefore holds exactly the events that were
committed. Each must be in the log of each of its groups exactly once:

* **events missing**: (event, group) pairs committed but not logged;
* **events duplicated**: logged more than once;
* **events unknown**: logged but never committed (nothing published outside the outbox here).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from events.models import OutboxEvent
from routing_service.chats.models import Message, MessageDirection
from routing_service.router.models import DeadLetter
from tests.reliability.traffic import Posted, sequence_of

AUDIT_TABLE = "reliability_outbox_audit"
ZERO_NOTES = ("sla_unfired", "sla_fired_twice", "never_redelivered", "waited_for_resume")

_INSTALL_AUDIT = f"""
CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
    row_id bigint PRIMARY KEY, company_id bigint NOT NULL, event_id text NOT NULL,
    type text NOT NULL, groups text NOT NULL
);
TRUNCATE {AUDIT_TABLE};
CREATE OR REPLACE FUNCTION {AUDIT_TABLE}_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {AUDIT_TABLE} VALUES (NEW.id, NEW.company_id, NEW.event_id, NEW.type, NEW.groups);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS {AUDIT_TABLE}_trigger ON events_outbox;
CREATE TRIGGER {AUDIT_TABLE}_trigger AFTER INSERT ON events_outbox
    FOR EACH ROW EXECUTE FUNCTION {AUDIT_TABLE}_copy();
"""  # noqa: S608

_REMOVE_AUDIT = f"""
DROP TRIGGER IF EXISTS {AUDIT_TABLE}_trigger ON events_outbox;
DROP FUNCTION IF EXISTS {AUDIT_TABLE}_copy();
DROP TABLE IF EXISTS {AUDIT_TABLE};
"""


def install_outbox_audit() -> None:
    """From now on every committed outbox row leaves a copy (rolled-back ones do not)."""
    with connection.cursor() as cursor:
        cursor.execute(_INSTALL_AUDIT)


def remove_outbox_audit() -> None:
    with connection.cursor() as cursor:
        cursor.execute(_REMOVE_AUDIT)


def committed_events() -> list[tuple[str, tuple[str, ...]]]:
    """(event id, groups) of every event committed since the audit was installed."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_id, groups FROM {AUDIT_TABLE} ORDER BY row_id")  # noqa: S608
        return [(event_id, tuple(groups.split())) for event_id, groups in cursor.fetchall()]


def logged_events(client: redis.Redis) -> Counter[tuple[str, str]]:
    """How often each (group, event id) is in the event log (every company, every group)."""
    found: Counter[tuple[str, str]] = Counter()
    marker = ":log:"
    for raw in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:{{c*}}:log:*", count=1000):
        key = raw.decode()
        group = key[key.index(marker) + len(marker) :]
        last = "-"
        while True:
            chunk = client.xrange(key, min=last, count=5000)
            if last != "-":
                chunk = chunk[1:]  # the entry the previous chunk ended with
            if not chunk:
                break
            for _entry_id, values in chunk:
                found[(group, json.loads(values[b"e"])["id"])] += 1
            last = chunk[-1][0].decode()
    return found


@dataclass
class Ledger:
    """The figures of one run; `problems()` lists what breaks a guarantee."""

    scenario: str
    sent: int = 0
    accepted: int = 0
    refused: int = 0  # never got a 2xx (the client gave up)
    retried: int = 0  # answers that were not a 2xx, over all messages
    recorded: int = 0  # rows in the database
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    out_of_order: int = 0  # clients
    dead_letters: int = 0
    slowest_answer: float = 0.0  # seconds, one webhook attempt
    events_committed: int = 0
    events_logged: int = 0  # (event, group) entries in the log
    events_missing: int = 0
    events_duplicated: int = 0
    events_unknown: int = 0
    outbox_left: int = 0
    faults: int = 0  # kills, stops, terminations injected
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        zero = (
            "lost",
            "duplicated",
            "unexpected",
            "out_of_order",
            "dead_letters",
            "events_missing",
            "events_duplicated",
            "events_unknown",
            "outbox_left",
        )
        found = [f"{name} = {getattr(self, name)}" for name in zero if getattr(self, name)]
        # Scenario figures that must be 0 too (SLA timers that never fired or fired twice).
        found += [f"{name} = {self.notes[name]}" for name in ZERO_NOTES if self.notes.get(name)]
        if self.sent and not self.accepted:
            found.append("nothing was accepted")
        return found

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, f"{'; '.join(problems)}\n{self.format()}\n" + "\n".join(
            self.examples[:20]
        )

    def format(self) -> str:
        messages = (
            f"sent {self.sent:,} accepted {self.accepted:,} refused {self.refused:,} "
            f"(retries {self.retried:,}) in db {self.recorded:,} | lost {self.lost} "
            f"duplicated {self.duplicated} unexpected {self.unexpected} "
            f"out-of-order {self.out_of_order} dead-lettered {self.dead_letters}"
        )
        events = (
            f"events committed {self.events_committed:,} (log entries {self.events_logged:,}) | "
            f"missing {self.events_missing} duplicated {self.events_duplicated} "
            f"unknown {self.events_unknown} outbox left {self.outbox_left}"
        )
        extra = " ".join(f"{k}={v}" for k, v in self.notes.items())
        return (
            f"[{self.scenario}] {self.faults} faults, {self.seconds:.1f} s, slowest webhook "
            f"answer {self.slowest_answer:.2f} s\n  {messages}\n  {events}"
            + (f"\n  {extra}" if extra else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "examples"}


def message_ledger(ledger: Ledger, posted: list[Posted]) -> None:
    """Fill the message figures from the webhooks' answers and the database."""
    channels = {p.inbox.channel_id for p in posted}
    rows = list(
        Message.objects.unscoped()
        .filter(channel_id__in=channels, direction=MessageDirection.INBOUND)
        .order_by("id")
        .values_list("channel_id", "provider_message_id", "text")
    )
    by_key: dict[tuple[int, str], int] = Counter((c, m) for c, m, _ in rows)
    by_text: Counter[str] = Counter(text for _, _, text in rows)
    told = {(p.inbox.channel_id, p.message_id): p for p in posted}

    ledger.sent = len(posted)
    ledger.accepted = sum(p.accepted for p in posted)
    ledger.refused = ledger.sent - ledger.accepted
    ledger.retried = sum(sum(not a.startswith("2") for a in p.answers) for p in posted)
    ledger.slowest_answer = max((p.slowest for p in posted), default=0.0)
    slow = sorted(
        ((t, a) for p in posted for t, a in zip(p.took, p.answers, strict=True)), reverse=True
    )
    ledger.notes["slowest_answers"] = " ".join(f"{a}:{t:.1f}s" for t, a in slow[:5])
    ledger.recorded = len(rows)
    for key, p in told.items():
        if p.accepted and key not in by_key:
            ledger.lost += 1
            ledger.examples.append(f"lost {key} answers={p.answers}")
        if p.false_refusal:
            ledger.unexpected += 1
            ledger.examples.append(f"untrue 'nothing accepted' {key} answers={p.answers}")
    for key, count in by_key.items():
        p = told.get(key)
        if p is None or not p.accepted:
            ledger.unexpected += 1
            ledger.examples.append(f"unexpected {key} answers={p.answers if p else None}")
        ledger.duplicated += count - 1
    ledger.duplicated += sum(count - 1 for count in by_text.values()) - sum(
        count - 1 for count in by_key.values()
    )
    per_client: dict[int, list[int]] = defaultdict(list)
    for _, _, text in rows:
        client, seq = sequence_of(text)
        per_client[client].append(seq)
    for client, seqs in per_client.items():
        if seqs != sorted(seqs):
            ledger.out_of_order += 1
            ledger.examples.append(f"client {client} recorded in the order {seqs}")
    ledger.dead_letters = DeadLetter.objects.count()


def event_ledger(ledger: Ledger, client: redis.Redis) -> None:
    """Fill the event figures: the audit table (committed) against the log (published)."""
    logged = logged_events(client)
    expected: Counter[tuple[str, str]] = Counter()
    for event_id, groups in committed_events():
        ledger.events_committed += 1
        for group in groups:
            expected[(group, event_id)] += 1
    ledger.events_logged = sum(logged.values())
    for pair, count in expected.items():
        found = logged.get(pair, 0)
        if found < count:
            ledger.events_missing += count - found
            ledger.examples.append(f"event {pair} committed, logged {found} times")
        elif found > count:
            ledger.events_duplicated += found - count
            ledger.examples.append(f"event {pair} logged {found} times")
    for pair, count in logged.items():
        if pair not in expected:
            ledger.events_unknown += count
            ledger.examples.append(f"event {pair} logged but never committed")
    ledger.outbox_left = OutboxEvent.objects.count()
