"""`manage.py dead_letters`: list dead-lettered inbound entries, or replay them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from events.redis_clients import sync_client
from routing_service.router.models import DeadLetter


class Command(BaseCommand):
    help = "List inbound entries the router gave up on; --replay puts them back on the stream."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", type=int, help="Only this company id.")
        parser.add_argument(
            "--replay",
            nargs="*",
            type=int,
            metavar="ID",
            help="Re-append these dead letters (all listed when no id).",
        )
        parser.add_argument("--limit", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        letters = DeadLetter.objects.filter(replayed_at__isnull=True)
        if options["company"]:
            letters = letters.filter(company_id=options["company"])
        if options["replay"] is not None:
            if options["replay"]:
                letters = letters.filter(pk__in=options["replay"])
            client = sync_client(settings.STREAM_REDIS_URL)
            count = 0
            for letter in letters:
                client.xadd(letter.stream, {"e": letter.payload.encode()})
                letter.replayed_at = timezone.now()
                letter.save(update_fields=["replayed_at"])
                count += 1
            self.stdout.write(f"replayed {count} entries")
            return
        total = letters.count()
        self.stdout.write(f"{total} dead letters")
        for letter in letters[: options["limit"]]:
            self.stdout.write(
                f"#{letter.pk} {letter.created_at:%Y-%m-%d %H:%M:%S} company={letter.company_id} "
                f"{letter.stream} {letter.entry_id} attempts={letter.attempts}: "
                f"{letter.error[:200]}"
            )
