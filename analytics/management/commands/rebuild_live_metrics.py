"""`manage.py rebuild_live_metrics`: write the live metrics counters again from the database.

For when Redis lost its data (a restart without persistence, a failover to an empty replica):
until then `GET /api/v1/metrics/` and the wallboard count from zero. Rebuilds the last 25 hours
of per-minute buckets (the longest window) per company from the chats; idempotent, so running
it twice, or while chats keep arriving, is harmless apart from the events of the few
milliseconds between its read and its write.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from analytics.queue_history import rebuild_counters
from routing_service.tenancy.models import Company


class Command(BaseCommand):
    help = "Rebuild the live metrics counters in Redis from the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--company", action="append", type=int, help="Company id (repeatable; default: all)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        companies = Company.objects.order_by("pk").values_list("pk", flat=True)
        if options["company"]:
            companies = companies.filter(pk__in=options["company"])
        now = timezone.now()
        for company_id in companies:
            written = rebuild_counters(company_id, now)
            self.stdout.write(f"company {company_id}: {written} counter increments")
