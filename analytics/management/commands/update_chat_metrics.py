"""`manage.py update_chat_metrics`: recompute the daily ChatResponseTracking rows.

Without dates it does what the periodic job does (recent days plus any gap since the last
run); with `--from`/`--to` it recomputes that range — a backfill. Idempotent either way: whole
days are recomputed and their rows replaced (analytics/metrics.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from analytics.metrics import roll_up, roll_up_recent
from routing_service.tenancy.models import Company


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Recompute daily chat metrics (per company and per agent) for a date range."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", type=_date, help="First day, YYYY-MM-DD.")
        parser.add_argument(
            "--to", dest="end", type=_date, help="Last day, YYYY-MM-DD (default: today, UTC)."
        )
        parser.add_argument(
            "--company", action="append", help="Company id or slug (repeatable; default: all)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = options["start"], options["end"]
        company_ids = self._companies(options["company"]) if options["company"] else None
        if start is None and end is None and company_ids is None:
            written = roll_up_recent()
            self.stdout.write(f"{written} rows written (recent days)")
            return
        end = end or timezone.now().astimezone(dt.UTC).date()
        start = start or end
        if start > end:
            raise CommandError("--from must not be after --to")
        written = roll_up(start, end, company_ids)
        self.stdout.write(f"{written} rows written for {start} … {end}")

    def _companies(self, names: list[str]) -> list[int]:
        ids = []
        for name in names:
            company = (
                Company.objects.filter(pk=int(name)).first()
                if name.isdigit()
                else Company.objects.filter(slug=name).first()
            )
            if company is None:
                raise CommandError(f"unknown company {name!r}")
            ids.append(company.pk)
        return ids
