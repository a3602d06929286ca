"""`manage.py run_sla_timer`: fire SLA warnings, breaches and escalations on time.

Run one or more (they never fire a deadline twice); see sla_engine/timer.py.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

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

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("sla_engine").setLevel(logging.INFO)
        worker = SlaTimerWorker(
            name=options["name"],
            batch_size=max(1, options["batch_size"]),
            max_sleep=max(1, options["max_sleep_ms"]) / 1000,
            metrics_every=options["metrics_every"],
        )
        worker.install_signal_handlers()
        worker.run(max_idle_turns=options["exit_when_idle"])
        self.stdout.write(f"sla timer {worker.name} stopped after {worker.fired} firings")
