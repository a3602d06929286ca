"""The demo installation that ``manage.py create_sample_data`` (and so ``scripts/start``) builds.

Everything is made through the product's own actions, as a real company's data would be:

* a superadmin (admin/admin123) and three companies, each with a company admin, a supervisor,
  a viewer and four agents (skills, languages), one channel per provider kind, SLA policies for
  every priority and a routing policy;
* **nobody is at a console**, so every demo agent and supervisor starts ``offline``: the router
  offers chats only to agents who say they are available (the console's "My status"), and
  presence moves them to ``away`` when their console closes. (Seeded ``available``, offers went
  round every 30 s among people nobody played.) A rerun puts demo staff still ``available``
  back offline the same way, through ``set_agent_status``;
* five chats that arrive now and wait in the queue (received as the router records a webhook);
* a month of chats (``sample_history``) played through receive → pick → reply → (customer
  writes again → reply) → (escalate) → resolve with their own times, so the SLA outcomes, live
  sessions and daily metrics are what the product computes from them. Their replies are
  recorded as delivered: the demo channels have no provider behind them;
* the daily metrics of that month (``analytics.metrics.roll_up``, the ``update_chat_metrics``
  job), a CSV data source of some thousand sessions over 60 days and default dashboards
  (``analytics.sample_data``).

Deterministic (seeded by company and day) and idempotent: a second run finds every row it
would make (users and channels by name, chats by provider message id, the data source and
dashboards by name) and adds nothing; a run on a later day adds the days since the last one.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from django.db import transaction
from django.utils import timezone

from analytics import live
from analytics import metrics as daily_metrics
from analytics import sample_data as sample_analytics
from routing_service.chats.actions import (
    escalate_assignment,
    mark_read,
    pick_conversation,
    receive_inbound_message,
    resolve_assignment,
    send_agent_reply,
    set_agent_status,
)
from routing_service.chats.models import (
    Channel,
    Message,
    Priority,
    Provider,
    RoutingPolicy,
)
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.outbound import delivery
from routing_service.tenancy.actions import create_company, create_user
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from routing_service.tenancy.sample_history import (
    HISTORY_DAYS,
    AgentSpec,
    PlannedChat,
    client_name,
    plan_day,
)
from sla_engine.models import ChatSLA

__all__ = ["PASSWORD", "Summary", "create_sample_data"]

PASSWORD: Final = "demo12345"  # noqa: S105 - documented demo password for every sample user

COMPANIES: Final = (
    ("Acme Retail", "acme", "Europe/London", "GB"),
    ("Globex Telecom", "globex", "America/New_York", "US"),
    ("Initech Bank", "initech", "Europe/Berlin", "DE"),
)
AGENTS: Final = (
    AgentSpec("alice", frozenset({"billing", "orders"}), frozenset({"en", "fr"})),
    AgentSpec("bob", frozenset({"orders", "returns"}), frozenset({"en"})),
    AgentSpec("carla", frozenset({"technical"}), frozenset({"en", "es"})),
    AgentSpec("dmitri", frozenset({"billing", "technical"}), frozenset({"en", "de"})),
)
# (first response, resolution) business minutes per priority.
SLA_TARGETS: Final = {
    Priority.LOW: (240, 2880),
    Priority.MEDIUM: (60, 960),
    Priority.HIGH: (15, 240),
    Priority.URGENT: (5, 60),
}
CHANNEL_CONFIG: Final[dict[str, dict[str, Any]]] = {
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
# The history's customers write in on: half the web widget, then WhatsApp, Telegram, SMS.
CLIENT_CHANNELS: Final[tuple[str, ...]] = (
    *[Provider.GENERIC] * 5,
    *[Provider.WHATSAPP] * 3,
    Provider.TELEGRAM,
    Provider.TWILIO,
)
LIVE_CHATS: Final = (
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
)
ESCALATION_REASON: Final = "The customer asks for a goodwill refund: a supervisor decides."


@dataclass
class Summary:
    """What a run found or made, for the command's report and the tests."""

    companies: list[Company] = field(default_factory=list)
    history_chats: int = 0  # chats played this run (0 on a rerun the same day)
    metric_rows: int = 0
    sessions: dict[str, int] = field(default_factory=dict)  # company slug → imported rows


def create_sample_data(write: Callable[[str], None], *, now: dt.datetime | None = None) -> Summary:
    """Build (or complete) the demo installation; ``write`` gets one line per step."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    summary = Summary()
    _superadmin(write)
    for name, slug, tz, country in COMPANIES:
        with transaction.atomic():
            company = Company.objects.filter(slug=slug).first() or create_company(name, slug)
            people = _people(company, write)
            channels = _channels(company, write)
            _slas(company, tz, country)
            _routing(company)
        _nobody_at_the_console(people)
        summary.companies.append(company)
        summary.history_chats += _history(company, tz, channels, people, today=today)
        _live_chats(company, channels[Provider.GENERIC], now)
        summary.metric_rows += daily_metrics.roll_up(
            today - dt.timedelta(days=HISTORY_DAYS + 1), today, [company.pk]
        )
        admin = people[f"{slug}-admin"]
        source = sample_analytics.load_sample_sessions(company, today=today, created_by=admin)
        sample_analytics.ensure_dashboards(company, source, created_by=admin)
        summary.sessions[slug] = source.rows_imported
        write(
            f"  analytics: {source.rows_imported} sessions in “{source.name}” "
            f"({source.rows_rejected} rows rejected, {source.duplicates} duplicate), "
            f"{len(sample_analytics.DEFAULT_DASHBOARDS)} dashboards, "
            f"{HISTORY_DAYS} days of chats and daily metrics"
        )
    return summary


# --- tenants and people ----------------------------------------------------------------------


def _superadmin(write: Callable[[str], None]) -> None:
    if not User.objects.filter(username="admin").exists():
        create_user(
            username="admin",
            password="admin123",  # noqa: S106 - the documented demo login
            role=Role.SUPERADMIN,
            company=None,
            email="admin@example.com",
        )
    write("superadmin: admin / admin123")


def _people(company: Company, write: Callable[[str], None]) -> dict[str, User]:
    """The company's staff by username, created offline (create_user's default status)."""
    people: list[tuple[str, str, dict[str, Any]]] = [
        (f"{company.slug}-admin", Role.COMPANY_ADMIN, {}),
        (f"{company.slug}-supervisor", Role.SUPERVISOR, {"first_name": "Sam"}),
        (f"{company.slug}-viewer", Role.VIEWER, {}),
    ]
    for agent in AGENTS:
        extra: dict[str, Any] = {
            "skills": agent.skills,
            "languages": agent.languages,
            "max_chats": 3,
            "first_name": agent.name.title(),
        }
        people.append((f"{company.slug}-{agent.name}", Role.AGENT, extra))
    found = {u.username: u for u in User.objects.filter(username__in=[p[0] for p in people])}
    for username, role, extra in people:
        if username not in found:
            found[username] = create_user(
                username=username,
                password=PASSWORD,
                role=role,
                company=company,
                email=f"{username}@example.com",
                **extra,
            )
    write(f"{company.name}: users {', '.join(p[0] for p in people)} (password {PASSWORD})")
    return found


def _nobody_at_the_console(people: dict[str, User]) -> None:
    """Demo staff left ``available`` by an earlier run go offline: nobody plays them."""
    for user in people.values():
        if user.can_handle_chats and user.status != AgentStatus.OFFLINE:
            set_agent_status(user.pk, AgentStatus.OFFLINE, reason="demo start: nobody is here")


def _channels(company: Company, write: Callable[[str], None]) -> dict[str, Channel]:
    channels = {}
    for provider, config in CHANNEL_CONFIG.items():
        channel, _ = Channel.objects.unscoped().get_or_create(
            company=company,
            provider=provider,
            name=f"{company.name} {Provider(provider).label}",
            defaults={"secret": secrets.token_urlsafe(24), "config": config},
        )
        channels[provider] = channel
        write(f"  {provider:<9} {channel.webhook_url}  secret={channel.secret}")
    return channels


def _slas(company: Company, tz: str, country: str) -> None:
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


def _routing(company: Company) -> None:
    policy = RoutingPolicy.objects.unscoped().get(company=company)
    if not policy.urgent_keywords:
        policy.urgent_keywords = ["urgent", "asap", "fraud", "locked out", "data breach"]
        policy.strategy = "least_busy" if company.slug == "globex" else "round_robin"
        policy.save()


# --- chats -----------------------------------------------------------------------------------


def _live_chats(company: Company, channel: Channel, now: dt.datetime) -> None:
    """Five customers writing now: they wait in the queue until an agent is available."""
    for external_id, name, text, category, language, priority in LIVE_CHATS:
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
            received_at=now,
        )


def _history(
    company: Company,
    tz: str,
    channels: dict[str, Channel],
    people: dict[str, User],
    *,
    today: dt.date,
) -> int:
    """Play the month before ``today``; the number of chats played (those already there are
    skipped)."""
    cutoff = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    played = 0
    for days_ago in range(HISTORY_DAYS, 0, -1):
        day = today - dt.timedelta(days=days_ago)
        for chat in plan_day(company.slug, day, tz, AGENTS, cutoff=cutoff):
            played += _play(company, chat, channels, people)
    return played


def _inbound(chat: PlannedChat, number: int, text: str, at: dt.datetime) -> InboundMessage:
    external_id = f"history-{chat.client:03d}"
    return InboundMessage(
        provider=CLIENT_CHANNELS[chat.client % len(CLIENT_CHANNELS)],
        provider_message_id=f"{chat.key}-{number}",
        client_external_id=external_id,
        client_name=client_name(chat.client),
        client_email=f"{external_id}@example.net",
        text=text,
        sent_at=at,
        priority=chat.topic.priority,
        language=chat.topic.language,
        category=chat.topic.category,
    )


def _reply(conversation_id: int, agent: User, text: str, at: dt.datetime) -> Message:
    message = send_agent_reply(conversation_id, agent, text, now=at)
    delivery.mark_sent(message.pk, None)  # no provider behind a demo channel
    return message


def _play(
    company: Company, chat: PlannedChat, channels: dict[str, Channel], people: dict[str, User]
) -> int:
    """One planned chat through the actions, in one transaction; 0 if it was played before
    (its first message is a duplicate)."""
    channel = channels[CLIENT_CHANNELS[chat.client % len(CLIENT_CHANNELS)]]
    agent = people[f"{company.slug}-{chat.agent}"]
    topic = chat.topic
    with transaction.atomic():
        first = _inbound(chat, 1, topic.question, chat.arrived_at)
        received = receive_inbound_message(channel, first, received_at=chat.arrived_at)
        if received.duplicate or received.conversation_id is None:
            return 0
        conversation_id = received.conversation_id
        holding = pick_conversation(conversation_id, agent, now=chat.picked_at)
        _reply(conversation_id, agent, topic.answer, chat.replied_at)
        if chat.follow_up_at and chat.answered_at:
            again = _inbound(chat, 2, topic.follow_up, chat.follow_up_at)
            receive_inbound_message(channel, again, received_at=chat.follow_up_at)
            mark_read(agent, conversation_id=conversation_id)
            _reply(conversation_id, agent, topic.follow_up_answer, chat.answered_at)
        holder = agent
        if chat.escalated_at:
            # Escalations go only to a supervisor who is available. Sam was on shift back
            # then, though offline now: marked available for this transaction only (nobody
            # sees the row before it is offline again at the commit), not through
            # set_agent_status, whose events would tell consoles of a presence that never was.
            supervisor = people[f"{company.slug}-supervisor"]
            User.objects.filter(pk=supervisor.pk).update(status=AgentStatus.AVAILABLE)
            holding = escalate_assignment(
                holding.pk,
                agent,
                reason=ESCALATION_REASON,
                to_supervisor_id=supervisor.pk,
                now=chat.escalated_at,
            )
            User.objects.filter(pk=supervisor.pk).update(status=AgentStatus.OFFLINE)
            holder = supervisor
        resolve_assignment(holding.pk, holder, now=chat.resolved_at)
    # What the record_live_session actor does once the resolution commits (it is enqueued
    # too, and finds the session already there): the live feed is complete when we return.
    live.session_from_conversation(conversation_id)
    return 1
