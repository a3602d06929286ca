"""`manage.py run_outbox_relay`: publish outbox rows their writers left (events/relay.py)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from events.relay import Relay


class Command(BaseCommand):
    help = "Publish committed events that their writer did not (crash, Redis failure)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        relay = Relay(stop)
        relay.run(once=options["once"])
        self.stdout.write(f"outbox relay stopped after {relay.relayed} events")
