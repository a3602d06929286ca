"""`manage.py manage_partitions [--ahead N] [--no-purge]`: one retention turn, now.

The timer runs the same turn on its own (`retention_housekeeping`); this is for operators
(cron, a first run after upgrading, checking what would go).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from routing_service.retention import partitions
from routing_service.retention.housekeeping import run_turn


class Command(BaseCommand):
    help = "Create history partitions ahead, purge per company retention, drop expired months."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ahead", type=int, default=partitions.MONTHS_AHEAD)
        parser.add_argument(
            "--no-purge", action="store_true", help="partitions only, no per-company purge"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["ahead"] < 0 or options["ahead"] > 24:
            self.stderr.write("--ahead: between 0 and 24 months")
            raise SystemExit(2)
        result = run_turn(ahead=options["ahead"], purge_rows=not options["no_purge"])
        for name in result.created:
            self.stdout.write(f"created {name}")
        for name in result.dropped:
            self.stdout.write(f"dropped {name}")
        for table, count in sorted(result.purged.items()):
            self.stdout.write(f"purged {count} {table}")
