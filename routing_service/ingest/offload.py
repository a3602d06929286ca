"""① Webhook ingestion: where large bodies are verified and parsed, off the event loop.

The web process's event loop serves every API call and websocket of the process, so no webhook
may hold it for long — least of all one a forger can make expensive. Measured on 1 MiB bodies:
HMAC-SHA256 takes 0.5 ms and hashlib releases the GIL meanwhile; Twilio's form parsing (the
signature covers the parsed fields), bounded to 64 KiB and 200 fields, takes up to ~6 ms of
Python bytecode, during which the GIL changes hands every switch interval (5 ms); decoding 1 MiB
of tiny JSON objects takes msgspec ~100 ms in one C call that holds the GIL throughout, so a
thread would stall the loop just the same. Hence:

* `verify` runs on a thread (2 of them: HMACs over large bodies run in parallel);
* `parse` runs in a worker process, and only for requests `verify` found authentic — a forger
  cannot make the process work, and an authentic but huge batch does not stall the loop.

At most `max_queue` large requests are in either stage at once; the handler answers 503 beyond
that (`busy`). Small bodies never come here: the thread or process hop would cost more than
their parsing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool

from routing_service.ingest.adapters import (
    ChannelSecrets,
    ParseResult,
    Refusal,
    WebhookRequest,
    authenticate,
    parse_request,
)

logger = logging.getLogger(__name__)

MAX_QUEUE = 32


class ParserUnavailable(Exception):
    """The parsing process died (it is replaced for the next request)."""


class Offloader:
    def __init__(self, max_queue: int = MAX_QUEUE) -> None:
        self.max_queue = max_queue
        self.in_flight = 0
        self._threads = concurrent.futures.ThreadPoolExecutor(
            2, thread_name_prefix="webhook-verify"
        )
        self._process: concurrent.futures.ProcessPoolExecutor | None = None

    @property
    def busy(self) -> bool:
        return self.in_flight >= self.max_queue

    async def verify(
        self, provider: str, req: WebhookRequest, secrets: ChannelSecrets, now: float
    ) -> Refusal | None:
        self.in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._threads, authenticate, provider, req, secrets, now
            )
        finally:
            self.in_flight -= 1

    async def parse(self, provider: str, req: WebhookRequest) -> ParseResult | Refusal:
        self.in_flight += 1
        try:
            if self._process is None:
                # spawn, not fork: the web process has threads (and their locks) to not copy.
                # The child imports only the adapters (no Django): ~25 MB, started on first use.
                self._process = concurrent.futures.ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            process = self._process
            try:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(process, parse_request, provider, req)
            except BrokenProcessPool as exc:
                if self._process is process:
                    self._process = None
                    process.shutdown(wait=False, cancel_futures=True)
                logger.error("The webhook parsing process died; starting another")
                raise ParserUnavailable from exc
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        self._threads.shutdown(wait=False)
        if self._process is not None:
            self._process.shutdown(wait=False, cancel_futures=True)
            self._process = None


def _exit_with_parent(parent: int) -> None:
    """Worker-process initializer: never outlive the web process that started us.

    uvicorn ends by re-raising SIGTERM after its graceful shutdown, which skips the executor's
    own clean-up (an atexit hook), and a SIGKILLed parent runs none at all; the worker would
    wait for work forever, holding the parent's stdout and stderr open.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
