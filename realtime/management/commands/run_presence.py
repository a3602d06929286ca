"""`manage.py run_presence`: the presence checker (realtime/presence.py).

Every `PRESENCE_CHECK_INTERVAL_MS` it reaps consoles whose heartbeats stopped and sets `away`
the agents whose last console closed more than `PRESENCE_GRACE_SECONDS` ago. Run one or several
(failover): the Redis scripts claim each agent for one checker at a time.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from realtime.presence import presence_tick

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Set agents away when their last console closed (or went silent) past the grace."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        interval = settings.PRESENCE_CHECK_INTERVAL_MS / 1000
        while not stop.is_set():
            try:
                result = presence_tick()
                if result.away:
                    logger.info("presence: set away %s", result.away)
            except Exception:  # Redis or the database hiccuped: try again next interval
                logger.exception("presence tick failed")
            finally:
                close_old_connections()
            if options["once"]:
                break
            stop.wait(interval)
        self.stdout.write("presence checker stopped")
