"""⑤ The supervisors' conversations page: which chats it lists, a page at a time.

Every live chat of the company and the recent closed ones (activity in the last
`RECENT_DAYS`), newest activity first, filtered by status, agent, priority, SLA state, channel,
label (when the labels model exists) and text. Pages are a keyset over
`(last_message_at, id)` — the `conv_company_activity_idx` index, so the first page of 100,000
open chats reads one index range and stops after `limit + 1` rows: no OFFSET, no COUNT
(tests/perf/bench_conversations.py measures it). The page's details — client, channel,
holder, the company's SLA warning windows — come in the same statement (`_page_rows`).

Live updates are not polled: the page listens to the wallboard socket's events
(`frontend_static/conversations/`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from django.apps import apps
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from realtime.wallboard import _sla_conditions, sla_state, warning_windows
from routing_service.chats.label_queries import with_label
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    OPEN_CONVERSATION_STATUSES,
    Channel,
    ChatAssignment,
    Client,
    Conversation,
    ConversationStatus,
    Priority,
)
from routing_service.tenancy.models import User
from sla_engine.models import ChatSLA

RECENT_DAYS: Final = 7
PAGE_SIZE: Final = 50
MAX_QUERY_LENGTH: Final = 100
SLA_STATES: Final = ("breached", "at_risk", "ok")


class BadFilter(ValueError):
    """A filter value the page cannot use; `field` names it for the form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Filters:
    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    agent_id: int | None = None
    channel_id: int | None = None
    sla: str = ""
    label: str = ""
    q: str = ""
    cursor: tuple[dt.datetime, int] | None = None


def _int(value: str, name: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadFilter(name, f"{name} must be a number.")
    return int(value)


def encode_cursor(at: dt.datetime, pk: int) -> str:
    """`<microseconds since the epoch>.<id>`: URL-safe, no time zone to escape."""
    return f"{int(at.timestamp() * 1_000_000)}.{pk}"


def decode_cursor(raw: str) -> tuple[dt.datetime, int] | None:
    if not raw:
        return None
    micros, _, pk = raw.partition(".")
    if not (micros.isdigit() and pk.isdigit()) or len(micros) > 20 or len(pk) > 18:
        raise BadFilter("after", "This page link is not valid; start from the first page.")
    at = dt.datetime.fromtimestamp(int(micros) / 1_000_000, tz=dt.UTC)
    return at, int(pk)


def parse_filters(query: Mapping[str, Any]) -> Filters:
    """Filters from a query string (a QueryDict or a plain mapping of lists/strings)."""

    def many(name: str) -> list[str]:
        getlist = getattr(query, "getlist", None)
        values = getlist(name) if getlist else query.get(name, [])
        values = [values] if isinstance(values, str) else list(values)
        return [v for v in values if v]

    def one(name: str) -> str:
        values = many(name)
        return values[-1].strip() if values else ""

    statuses = many("status")
    for value in statuses:
        if value not in ConversationStatus.values:
            raise BadFilter("status", f"Unknown status {value!r}.")
    priorities = many("priority")
    for value in priorities:
        if value not in Priority.values:
            raise BadFilter("priority", f"Unknown priority {value!r}.")
    sla = one("sla")
    if sla and sla not in SLA_STATES:
        raise BadFilter("sla", f"SLA state is one of {', '.join(SLA_STATES)}.")
    q = one("q")
    if len(q) > MAX_QUERY_LENGTH:
        raise BadFilter("q", f"Search for at most {MAX_QUERY_LENGTH} characters.")
    return Filters(
        statuses=tuple(dict.fromkeys(statuses)),
        priorities=tuple(dict.fromkeys(priorities)),
        agent_id=_int(one("agent"), "agent"),
        channel_id=_int(one("channel"), "channel"),
        sla=sla,
        label=one("label")[:64],
        q=q,
        cursor=decode_cursor(one("after")),
    )


def labels_available() -> bool:
    """Labels are another part of the workspace; the filter works once their model exists."""
    try:
        apps.get_model("chats", "Label")
    except LookupError:
        return False
    return True


def filtered(company_id: int, filters: Filters, *, now: dt.datetime) -> QuerySet[Conversation]:
    chats = Conversation.objects.unscoped().filter(company_id=company_id)
    if filters.statuses:
        chats = chats.filter(status__in=filters.statuses)
    else:  # live ones, and the closed ones with recent activity
        recent = now - dt.timedelta(days=RECENT_DAYS)
        chats = chats.filter(
            Q(status__in=OPEN_CONVERSATION_STATUSES) | Q(last_message_at__gte=recent)
        )
    if filters.priorities:
        chats = chats.filter(priority__in=filters.priorities)
    if filters.channel_id is not None:
        chats = chats.filter(channel_id=filters.channel_id)
    if filters.agent_id is not None:
        # Driven from the agent's active assignments (the partial agent index): a few rows,
        # where an EXISTS per chat would walk the whole activity index to find them.
        chats = chats.filter(
            pk__in=ChatAssignment.objects.unscoped()
            .filter(agent_id=filters.agent_id, status__in=ACTIVE_ASSIGNMENT_STATUSES)
            .values("conversation_id")
        )
    if filters.sla:
        breached, risk = _sla_conditions(now, warning_windows(company_id))
        open_only = Q(status__in=OPEN_CONVERSATION_STATUSES)
        if filters.sla == "breached":
            chats = chats.filter(open_only & breached)
        elif filters.sla == "at_risk":
            chats = chats.filter(open_only & risk) if risk is not None else chats.none()
        else:
            pressing = breached | risk if risk is not None else breached
            chats = chats.filter(open_only).exclude(pressing)
    if filters.label and labels_available():
        # Through the join rows (`labels` is the chat's JSON list of names, not a relation).
        chats = with_label(chats, filters.label)
    if filters.q:
        q = filters.q.lstrip("#")
        # The customers first, from the trigram indexes of their name, id and email (chats
        # migration 0007), then their chats: one OR over a join could use no index at all.
        who = Q(name__icontains=filters.q) | Q(external_id__icontains=filters.q)
        if "@" in filters.q:
            # Emails only for words that look like one: every address shares trigrams with
            # every other ("com", the company's domain), so an email LIKE is the slowest
            # part of a search (bench: 40 of 60 ms) and rarely what a name search wants.
            who |= Q(email__icontains=filters.q)
        clients = Client.objects.unscoped().filter(who, company_id=company_id).values("pk")
        text = Q(client_id__in=clients) | Q(subject__icontains=filters.q)
        if q.isdigit() and len(q) <= 18:
            text |= Q(pk=int(q))
        chats = chats.filter(text)
    if filters.cursor is not None:
        at, pk = filters.cursor
        # (last_message_at, id) < (at, pk), written so the index range starts at `at`.
        chats = chats.filter(last_message_at__lte=at).exclude(last_message_at=at, pk__gte=pk)
    return chats


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    filters: Filters
    agents: list[dict[str, Any]] = field(default_factory=list)


def _name(first: str, last: str, username: str) -> str:
    return f"{first} {last}".strip() or username


_PAGE_SQL: Final = """
SELECT v.id, v.status, v.priority, v.subject, v.last_message_at, v.first_response_at,
       v.first_response_due_at, v.resolution_due_at, v.message_count, v.csat_rating,
       c.name, c.external_id, c.is_vip, ch.name, ch.provider,
       a.agent_id, a.status, u.first_name, u.last_name, u.username,
       (SELECT json_agg(json_build_array(s.priority, s.first_response_minutes,
                                         s.resolution_minutes, s.warning_percent))
        FROM {sla} s WHERE s.company_id = %s) AS windows
FROM ({keys}) AS k (id, at)
JOIN {conversation} v ON v.id = k.id
JOIN {client} c ON c.id = v.client_id
JOIN {channel} ch ON ch.id = v.channel_id
LEFT JOIN {assignment} a ON a.conversation_id = v.id AND a.status IN ('offered', 'accepted')
LEFT JOIN {user} u ON u.id = a.agent_id
ORDER BY k.at DESC, k.id DESC
"""


def _page_rows(company_id: int, keys: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The page's chats with client, channel, holder and the company's SLA windows, in one
    statement around the filtered keyset query `keys` (ids and activity times, in order).

    Written out (like `chats.queries.rows`): compiling the equivalent querysets — joins, the
    holder's subqueries, the SLA policies — cost more CPU and round trips than PostgreSQL
    spends answering (about 1 ms at 100,000 open chats), and a busy web process pays for
    them on every page.
    """
    assert set(ACTIVE_ASSIGNMENT_STATUSES) == {"offered", "accepted"}
    keys_sql, keys_params = keys.query.sql_with_params()
    quote = connection.ops.quote_name
    tables = {
        "sla": ChatSLA._meta.db_table,
        "conversation": Conversation._meta.db_table,
        "client": Client._meta.db_table,
        "channel": Channel._meta.db_table,
        "assignment": ChatAssignment._meta.db_table,
        "user": User._meta.db_table,
    }
    sql = _PAGE_SQL.format(keys=keys_sql, **{k: quote(v) for k, v in tables.items()})
    with connection.cursor() as cursor:
        cursor.execute(sql, [company_id, *keys_params])
        return list(cursor.fetchall())


def _windows(raw: Any) -> dict[str, tuple[dt.timedelta, dt.timedelta]]:
    """`realtime.wallboard.warning_windows` from the policies the page query brought along."""
    if isinstance(raw, str):
        raw = json.loads(raw)
    windows = {}
    for priority, first, resolution, percent in raw or []:
        share = max(0, 100 - percent) / 100
        windows[priority] = (
            dt.timedelta(minutes=first * share),
            dt.timedelta(minutes=resolution * share),
        )
    return windows


def list_page(
    company_id: int, filters: Filters, *, limit: int = PAGE_SIZE, now: dt.datetime | None = None
) -> Page:
    """One page of the conversations list, as plain rows for the template and the script:
    one statement (`_page_rows`)."""
    now = now or timezone.now()
    keys = (
        filtered(company_id, filters, now=now)
        .order_by("-last_message_at", "-pk")
        .values_list("pk", "last_message_at")[: limit + 1]
    )
    found = _page_rows(company_id, keys)
    more = len(found) > limit
    found = found[:limit]
    windows = _windows(found[0][-1]) if found else {}
    rows = []
    for (
        pk,
        status,
        priority,
        subject,
        last_message_at,
        first_response_at,
        first_response_due_at,
        resolution_due_at,
        message_count,
        csat_rating,
        client_name,
        external_id,
        vip,
        channel_name,
        provider,
        agent_id,
        assignment_status,
        first,
        last,
        username,
        _,
    ) in found:
        clocks = Conversation(
            status=status,
            priority=priority,
            first_response_at=first_response_at,
            first_response_due_at=first_response_due_at,
            resolution_due_at=resolution_due_at,
        )
        rows.append(
            {
                "id": pk,
                "client": client_name or external_id,
                "vip": vip,
                "channel": channel_name,
                "provider": provider,
                "status": status,
                "priority": priority,
                "subject": subject,
                "agent_id": agent_id,
                "agent": _name(first or "", last or "", username or "") if agent_id else "",
                "assignment_status": assignment_status or "",
                "sla": _sla(clocks, now, windows),
                "last_message_at": last_message_at,
                "message_count": message_count,
                "csat_rating": csat_rating,
            }
        )
    last_row = found[-1] if found else None
    cursor = encode_cursor(last_row[4], last_row[0]) if more and last_row else None
    return Page(rows, cursor, filters)


def _sla(
    chat: Conversation, now: dt.datetime, windows: dict[str, tuple[dt.timedelta, dt.timedelta]]
) -> str:
    """`breached`, `at_risk`, `ok`, or "" for a closed chat (the filter's vocabulary)."""
    if chat.status not in OPEN_CONVERSATION_STATUSES:
        return ""
    kind, state, due = sla_state(chat, now)
    if due is None:
        return "ok"
    if state == "breached":
        return "breached"
    first, resolution = windows.get(chat.priority, (None, None))
    window = first if kind == "first_response" else resolution
    return "at_risk" if window is not None and due <= now + window else "ok"


def filter_choices(company_id: int) -> dict[str, Any]:
    """What the filter form offers: the company's agents and channels."""
    agents = [
        {"id": pk, "name": _name(first, last, username)}
        for pk, first, last, username in User.objects.filter(company_id=company_id, is_active=True)
        .order_by("username")
        .values_list("pk", "first_name", "last_name", "username")
    ]
    channels = list(
        Channel.objects.unscoped()
        .filter(company_id=company_id)
        .order_by("name")
        .values("id", "name", "provider")
    )
    return {"agents": agents, "channels": channels, "labels": labels_available()}
