"""Customers writing in through a provider: signed generic webhooks, each client's next message
sent only once its previous one was accepted, and every answer written down for the ledger.

A client behaves like a provider (Twilio, Meta and Telegram all redeliver on 5xx): a message
answered with anything but a 2xx — a 503, a timeout, a refused connection — is sent again,
with the same provider message id, until it is accepted or `give_up_after` seconds have passed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from routing_service.ingest.adapters.generic import sign_generic

# One line per request at INFO: thousands of lines for nothing in a test's output.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Inbox:
    """A generic channel the traffic writes to."""

    channel_id: int
    company_id: int
    path: str
    secret: str


@dataclass
class Posted:
    """One message and every answer its webhook got, in order: "202", "200", "503:unknown",
    "error:ConnectError" ... and how long the slowest attempt took."""

    client: int
    seq: int
    inbox: Inbox
    answers: list[str] = field(default_factory=list)
    took: list[float] = field(default_factory=list)  # seconds, per answer
    sent_at: list[float] = field(default_factory=list)  # time.monotonic(), per attempt

    @property
    def slowest(self) -> float:
        return max(self.took, default=0.0)

    @property
    def message_id(self) -> str:
        return f"c{self.client}-m{self.seq}"

    @property
    def text(self) -> str:
        return f"client {self.client} message {self.seq}"

    @property
    def accepted(self) -> bool:
        return any(answer.startswith("2") for answer in self.answers)

    @property
    def false_refusal(self) -> bool:
        """Told "nothing was accepted" by every attempt, then "duplicate" by a retry: one of
        those refusals was untrue (its append got in). After an ambiguous answer (a 503
        "unknown", a timeout) a duplicate proves nothing: that attempt may have got in."""
        for index, answer in enumerate(self.answers):
            if answer == "200":
                earlier = self.answers[:index]
                return bool(earlier) and all(a == "503:none" for a in earlier)
        return False


def sequence_of(text: str) -> tuple[int, int]:
    """(client, seq) back from a message's text."""
    _, client, _, seq = text.split()
    return int(client), int(seq)


class Traffic:
    """`clients` customers spread over `inboxes`, `per_client` messages each, all at once."""

    def __init__(
        self,
        base_url: str,
        inboxes: list[Inbox],
        *,
        clients: int,
        per_client: int,
        give_up_after: float = 60.0,
        retry_delay: float = 0.2,
        timeout: float = 15.0,
    ) -> None:
        self.base_url = base_url
        self.posted = [
            Posted(client, seq, inboxes[client % len(inboxes)])
            for client in range(clients)
            for seq in range(per_client)
        ]
        self.clients = clients
        self.per_client = per_client
        self.give_up_after = give_up_after
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._accepted = 0
        self._progress = threading.Condition()
        self.started_at = 0.0
        self.elapsed = 0.0

    @property
    def accepted(self) -> int:
        return self._accepted

    def wait_accepted(self, count: int, timeout: float = 900) -> None:
        """Block (in a fault's thread) until `count` messages were accepted."""
        with self._progress:
            if not self._progress.wait_for(lambda: self._accepted >= count, timeout):
                raise AssertionError(f"only {self._accepted} of {count} accepted in {timeout} s")

    def run(self, fault: Callable[[Traffic], None] | None = None) -> list[Posted]:
        """Send everything; `fault(self)` runs in a thread meanwhile (its error is raised here,
        after the traffic ended)."""
        errors: list[BaseException] = []

        def run_fault() -> None:
            try:
                assert fault is not None
                fault(self)
            except BaseException as exc:  # handed over to the test's thread
                errors.append(exc)

        thread = threading.Thread(target=run_fault, name="fault", daemon=True)
        self.started_at = time.monotonic()
        if fault is not None:
            thread.start()
        asyncio.run(self._send_all())
        self.elapsed = time.monotonic() - self.started_at
        if fault is not None:
            thread.join(timeout=300)
        if errors:
            raise errors[0]
        return self.posted

    async def _send_all(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits
        ) as http:
            by_client: dict[int, list[Posted]] = {}
            for posted in self.posted:
                by_client.setdefault(posted.client, []).append(posted)
            await asyncio.gather(*(self._client(http, mine) for mine in by_client.values()))

    async def _client(self, http: httpx.AsyncClient, messages: list[Posted]) -> None:
        for posted in messages:
            await self._deliver(http, posted)

    async def _deliver(self, http: httpx.AsyncClient, posted: Posted) -> None:
        first = time.monotonic()
        while True:
            answer, took = await self._post(http, posted)
            posted.answers.append(answer)
            posted.took.append(took)
            if answer.startswith("2"):
                with self._progress:
                    self._accepted += 1
                    self._progress.notify_all()
                return
            if time.monotonic() - first > self.give_up_after:
                return
            await asyncio.sleep(self.retry_delay)

    async def _post(self, http: httpx.AsyncClient, posted: Posted) -> tuple[str, float]:
        body = json.dumps(
            {
                "message_id": posted.message_id,
                "client": {"id": f"client-{posted.client}", "name": f"Client {posted.client}"},
                "text": posted.text,
                "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Switchboard-Timestamp": str(timestamp),
            "X-Switchboard-Signature": sign_generic(posted.inbox.secret, timestamp, body),
        }
        started = time.monotonic()
        posted.sent_at.append(started)
        try:
            response = await http.post(posted.inbox.path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"error:{type(exc).__name__}", time.monotonic() - started
        took = time.monotonic() - started
        if response.status_code == 503:
            try:
                accepted = response.json().get("accepted", "")
            except ValueError:
                accepted = ""
            return f"503:{accepted}", took
        return str(response.status_code), took
