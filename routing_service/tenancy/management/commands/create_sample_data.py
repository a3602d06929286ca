"""`manage.py create_sample_data`: a demo tenant set-up. Running it twice changes nothing.

Superadmin admin/admin123; three companies, each with a company admin, a supervisor and agents
(skills, languages), one channel per provider kind (secrets printed), SLA policies for every
priority, a routing policy and sample conversations that went through the real inbound path.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from routing_service.chats.actions import receive_inbound_message
from routing_service.chats.models import Channel, Priority, Provider, RoutingPolicy
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.tenancy.actions import create_company, create_user
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from sla_engine.models import ChatSLA

PASSWORD = "demo12345"  # noqa: S105 - documented demo password for every sample user

COMPANIES = [
    ("Acme Retail", "acme", "Europe/London", "GB"),
    ("Globex Telecom", "globex", "America/New_York", "US"),
    ("Initech Bank", "initech", "Europe/Berlin", "DE"),
]
AGENTS = [
    ("alice", ["billing", "orders"], ["en", "fr"]),
    ("bob", ["orders", "returns"], ["en"]),
    ("carla", ["technical"], ["en", "es"]),
    ("dmitri", ["billing", "technical"], ["en", "de"]),
]
# (first response, resolution) business minutes per priority.
SLA_TARGETS = {
    Priority.LOW: (240, 2880),
    Priority.MEDIUM: (60, 960),
    Priority.HIGH: (15, 240),
    Priority.URGENT: (5, 60),
}
CHANNEL_CONFIG: dict[str, dict[str, Any]] = {
    Provider.GENERIC: {},
    Provider.TWILIO: {
        "account_sid": "AC00000000000000000000000000000000",
        "from_number": "+15550001111",
    },
    Provider.WHATSAPP: {
        "phone_number_id": "100000000000001",
        "access_token": "demo-token",
        "verify_token": "demo-verify",
    },
    Provider.TELEGRAM: {"bot_token": "100000:demo-bot-token"},
}
SAMPLE_CHATS = [
    ("web-1001", "Maria Lopez", "Hi, my order #4411 hasn't arrived yet.", "orders", "en", None),
    ("web-1002", "Tom Becker", "I was charged twice this month!", "billing", "en", None),
    (
        "web-1003",
        "Ana Silva",
        "URGENT: my account is locked and I can't pay.",
        "billing",
        "en",
        "urgent",
    ),
    ("web-1004", "Lee Wong", "How do I return a jacket?", "returns", "en", "low"),
    ("web-1005", "Jean Dupont", "Bonjour, la connexion ne marche pas.", "technical", "fr", None),
]


class Command(BaseCommand):
    help = "Create demo companies, people, channels, SLAs and chats (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        self._superadmin()
        for name, slug, tz, country in COMPANIES:
            with transaction.atomic():
                company = Company.objects.filter(slug=slug).first() or create_company(name, slug)
                self._people(company)
                channels = self._channels(company)
                self._slas(company, tz, country)
                self._routing(company)
            self._conversations(company, channels[Provider.GENERIC])
        self.stdout.write(self.style.SUCCESS("Sample data ready. Log in as admin / admin123."))

    def _superadmin(self) -> None:
        if not User.objects.filter(username="admin").exists():
            create_user(
                username="admin",
                password="admin123",  # noqa: S106 - the documented demo login
                role=Role.SUPERADMIN,
                company=None,
                email="admin@example.com",
            )
        self.stdout.write("superadmin: admin / admin123")

    def _people(self, company: Company) -> None:
        people: list[tuple[str, str, dict[str, Any]]] = [
            (f"{company.slug}-admin", Role.COMPANY_ADMIN, {}),
            (f"{company.slug}-supervisor", Role.SUPERVISOR, {"status": AgentStatus.AVAILABLE}),
            (f"{company.slug}-viewer", Role.VIEWER, {}),
        ]
        for agent, skills, languages in AGENTS:
            people.append(
                (
                    f"{company.slug}-{agent}",
                    Role.AGENT,
                    {
                        "skills": skills,
                        "languages": languages,
                        "max_chats": 3,
                        "status": AgentStatus.AVAILABLE,
                        "first_name": agent.title(),
                    },
                )
            )
        for username, role, extra in people:
            if not User.objects.filter(username=username).exists():
                create_user(
                    username=username,
                    password=PASSWORD,
                    role=role,
                    company=company,
                    email=f"{username}@example.com",
                    **extra,
                )
        self.stdout.write(
            f"{company.name}: users {', '.join(p[0] for p in people)} (password {PASSWORD})"
        )

    def _channels(self, company: Company) -> dict[str, Channel]:
        channels = {}
        for provider, config in CHANNEL_CONFIG.items():
            channel, _ = Channel.objects.unscoped().get_or_create(
                company=company,
                provider=provider,
                name=f"{company.name} {Provider(provider).label}",
                defaults={"secret": secrets.token_urlsafe(24), "config": config},
            )
            channels[provider] = channel
            self.stdout.write(f"  {provider:<9} {channel.webhook_url}  secret={channel.secret}")
        return channels

    def _slas(self, company: Company, tz: str, country: str) -> None:
        for priority, (first, resolution) in SLA_TARGETS.items():
            ChatSLA.objects.unscoped().get_or_create(
                company=company,
                priority=priority,
                defaults={
                    "first_response_minutes": first,
                    "resolution_minutes": resolution,
                    "timezone": tz,
                    "holiday_country": country,
                    "work_start": dt.time(8, 0),
                    "work_end": dt.time(20, 0),
                    "include_weekends": priority in (Priority.HIGH, Priority.URGENT),
                },
            )

    def _routing(self, company: Company) -> None:
        policy = RoutingPolicy.objects.unscoped().get(company=company)
        if not policy.urgent_keywords:
            policy.urgent_keywords = ["urgent", "asap", "fraud", "locked out", "data breach"]
            policy.strategy = "least_busy" if company.slug == "globex" else "round_robin"
            policy.save()

    def _conversations(self, company: Company, channel: Channel) -> None:
        now = dt.datetime.now(dt.UTC)
        for external_id, name, text, category, language, priority in SAMPLE_CHATS:
            receive_inbound_message(
                channel,
                InboundMessage(
                    provider=Provider.GENERIC,
                    provider_message_id=f"sample-{external_id}",
                    client_external_id=external_id,
                    client_name=name,
                    client_email=f"{external_id}@example.net",
                    text=text,
                    sent_at=now,
                    priority=priority,
                    language=language,
                    category=category,
                ),
            )
