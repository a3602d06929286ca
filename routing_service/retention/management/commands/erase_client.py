"""`manage.py erase_client --company <slug> --client <external id or id>`: the right to erasure.

Prints what was removed, per table and store; see `routing_service.retention.erasure`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from routing_service.chats.models import Client
from routing_service.retention.erasure import erase_client, find_client
from routing_service.tenancy.models import Company


class Command(BaseCommand):
    help = "Erase one customer's personal data (database, stored files, Redis)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", required=True, help="the company's slug")
        parser.add_argument("--client", required=True, help="the client's external id or id")

    def handle(self, *args: Any, **options: Any) -> None:
        company = Company.objects.filter(slug=options["company"]).first()
        if company is None:
            raise CommandError(f"--company: no company with slug {options['company']!r}")
        try:
            client = find_client(company, options["client"])
        except Client.DoesNotExist:
            raise CommandError("--client: no such client in this company") from None
        record, counts = erase_client(company, client)
        if not counts:
            self.stdout.write(f"client {client.pk}: nothing left to erase")
        for what, count in sorted(counts.items()):
            self.stdout.write(f"{what}: {count}")
        self.stdout.write(f"audit record {record.pk}")
