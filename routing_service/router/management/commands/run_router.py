"""`manage.py run_router`: one routing worker (run several for throughput and failover)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing_service.router.worker import Router, tune_gc


class Command(BaseCommand):
    help = "Consume the inbound stream: queue, route and record every message exactly once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", help="Consumer name (default: host-pid).")
        parser.add_argument("--batch-size", type=int, help="Entries per read (default: setting).")
        parser.add_argument(
            "--exit-when-idle",
            type=int,
            metavar="N",
            help="Exit after N consecutive empty reads (for scripts and benchmarks).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("routing_service").setLevel(logging.INFO)
        router = Router(name=options["name"], batch_size=options["batch_size"])
        tune_gc()

        async def main() -> None:
            router.install_signal_handlers()
            await router.run(max_idle_loops=options["exit_when_idle"])

        asyncio.run(main())
        self.stdout.write(f"router {router.name} stopped after {router.processed} entries")
