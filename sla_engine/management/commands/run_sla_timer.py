"""`manage.py run_sla_timer`: fire SLA warnings, breaches and escalations on time.

Run one or more (they never fire a deadline twice); see sla_engine/timer.py. Each also runs the
outbox relay (events/relay.py) in a thread of its own: every deployment runs timers, so events
a crashed writer left in the outbox are always published, whoever wrote them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from events.relay import Relay
from sla_engine.timer import (
    DEFAULT_BATCH,
    DEFAULT_MAX_SLEEP,
    DEFAULT_METRICS_EVERY,
    SlaTimerWorker,
)


class Command(BaseCommand):
    help = "Fire SLA warnings, breaches and escalation steps at their due time, exactly once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", help="Timer name for the logs (default: host-pid).")
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH, help="Timers claimed per transaction."
        )
        parser.add_argument(
            "--max-sleep-ms",
            type=int,
            default=int(DEFAULT_MAX_SLEEP * 1000),
            help="Longest sleep between index probes: the bound on how late a deadline "
            "scheduled while the timer sleeps can be seen.",
        )
        parser.add_argument(
            "--metrics-every",
            type=float,
            default=DEFAULT_METRICS_EVERY,
            help="Seconds between enqueued daily-metrics roll-ups (one timer enqueues; 0: never).",
        )
        parser.add_argument(
            "--exit-when-idle",
            type=int,
            metavar="N",
            help="Exit after N consecutive turns that fired nothing (scripts and benchmarks).",
        )
        parser.add_argument(
            "--no-outbox-relay",
            action="store_true",
            help="Do not run the outbox relay thread (run `run_outbox_relay` instead).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("sla_engine").setLevel(logging.INFO)
        worker = SlaTimerWorker(
            name=options["name"],
            batch_size=max(1, options["batch_size"]),
            max_sleep=max(1, options["max_sleep_ms"]) / 1000,
            metrics_every=options["metrics_every"],
        )
        worker.install_signal_handlers()
        relay = Relay()
        thread = threading.Thread(target=relay.run, name="outbox-relay", daemon=True)
        if not options["no_outbox_relay"]:
            thread.start()
        try:
            worker.run(max_idle_turns=options["exit_when_idle"])
        finally:
            relay.stop.set()
            if thread.is_alive():
                thread.join(timeout=10)
        self.stdout.write(f"sla timer {worker.name} stopped after {worker.fired} firings")
