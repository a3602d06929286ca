"""One retention turn: partitions ahead, per-company purge, expired months dropped.

Run by the `retention_housekeeping` actor (enqueued by `run_sla_timer`, one timer per
interval) and by `manage.py manage_partitions`. Every step is idempotent, so a duplicate or
retried turn changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection

from routing_service.retention import partitions, purge


@dataclass
class TurnResult:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    purged: Counter[str] = field(default_factory=Counter)


def run_turn(
    now: dt.datetime | None = None, *, ahead: int = partitions.MONTHS_AHEAD, purge_rows: bool = True
) -> TurnResult:
    """Create partitions ahead, purge per company, then drop the months past every retention.

    Needs autocommit (not inside `atomic`): `DETACH PARTITION … CONCURRENTLY` refuses to run in
    a transaction block.
    """
    if connection.vendor != "postgresql":
        return TurnResult(purged=purge.purge_all(now) if purge_rows else Counter())
    keep = purge.longest_retention()
    result = TurnResult(created=partitions.ensure_partitions(now, ahead=ahead, back_days=keep))
    if purge_rows:
        result.purged = purge.purge_all(now)
    concurrently = not connection.in_atomic_block
    result.dropped = partitions.drop_expired(keep, now, concurrently=concurrently)
    return result
