"""`manage.py create_sample_data`: the demo installation (routing_service/tenancy/sample_data.py).

Running it twice changes nothing; it says what it made and how long that took.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from routing_service.tenancy.sample_data import create_sample_data


class Command(BaseCommand):
    help = (
        "Create demo companies, people, channels, SLAs, a month of chats, daily metrics, "
        "sample chat sessions and dashboards (idempotent)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        summary = create_sample_data(self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(
                f"Sample data ready in {time.monotonic() - started:.1f} s "
                f"({summary.history_chats} past chats played, {summary.metric_rows} daily "
                "metric rows). Log in as admin / admin123."
            )
        )
