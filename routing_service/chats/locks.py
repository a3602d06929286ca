"""Named locks of the chat domain, always taken in the same order to rule out deadlocks:

1. `lock_company_routing(company)` — serialises every routing decision of one company (offers,
   accepts, declines, transfers, capacity changes), so an agent is never offered more chats than
   they can take and a chat never gets two offers, whichever process decides.
2. `lock_agents(ids)` — the agents' rows, in primary-key order (their `active_chats` counters).
3. `lock_conversation(id)` — the chat itself.

PostgreSQL: a transaction-scoped advisory lock for (1), `SELECT … FOR UPDATE` for (2) and (3).
SQLite: transactions are IMMEDIATE (see settings), so a writer already holds the database lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from routing_service.chats.models import Conversation
from routing_service.tenancy.models import User

# First key of the two-int advisory lock: "routing" (arbitrary, fixed). Public because the SLA
# timer takes the same lock with pg_try_advisory_xact_lock inside its claim statement.
ROUTING_LOCK_NAMESPACE = 0x5B0A


def lock_company_routing(company_id: int) -> None:
    """Hold the company's routing lock until the current transaction ends.

    Precondition: inside `transaction.atomic()`.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [ROUTING_LOCK_NAMESPACE, company_id]
            )


def lock_agents(agent_ids: Iterable[int]) -> dict[int, User]:
    """Lock the agents' rows (in id order) and return them by id."""
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def lock_conversation(conversation_id: int) -> Conversation:
    """Lock one conversation row; raises Conversation.DoesNotExist."""
    return (
        Conversation.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("client", "channel")
        .get(pk=conversation_id)
    )
