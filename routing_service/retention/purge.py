"""Delete history older than each company's retention (`RetentionPolicy`), in small batches.

Per company, because retention is per company: messages (their attachment files first, from
storage, then the rows), assignment events, settled SLA timers and chat sessions. Aggregated
metrics (ChatResponseTracking, session day totals) are roll-ups and stay: they hold no
personal data and are what the history was kept for.

Whole months past the *longest* retention of any company go faster, by dropping partitions
(`partitions.drop_expired`); this per-company pass is what honours shorter settings and the
tables that are not partitioned. Batches of `BATCH` rows, each its own transaction, keep locks
short and let the router and the timer interleave.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from analytics.models import ChatSession
from routing_service.attachments import storage
from routing_service.attachments.models import Attachment
from routing_service.chats.models import AssignmentEvent, Message
from routing_service.retention.models import RetentionPolicy, default_days
from routing_service.tenancy.models import Company
from sla_engine.models import SlaTimer

logger = logging.getLogger(__name__)

BATCH = 2_000
KINDS = ("messages", "events", "sessions")


def retention_of(company: Company | int) -> dict[str, int]:
    """The company's retention in days per kind (its policy, else the defaults)."""
    company_id = company if isinstance(company, int) else company.pk
    policy = RetentionPolicy.objects.for_company(company_id).first()
    if policy is None:
        return {kind: default_days(kind) for kind in KINDS}
    return {kind: int(getattr(policy, f"{kind}_days")) for kind in KINDS}


def longest_retention() -> dict[str, int]:
    """Per kind, the longest retention of any company: what partition drops must respect."""
    found = RetentionPolicy.objects.unscoped().aggregate(
        **{kind: Max(f"{kind}_days") for kind in KINDS}
    )
    # A company without a policy keeps the defaults; so does an install with no policy at all.
    defaults_bind = Company.objects.filter(retention_policy__isnull=True).exists() or not any(
        found.values()
    )
    return {
        kind: max(found[kind] or 0, default_days(kind) if defaults_bind else 0) for kind in KINDS
    }


def _batched_delete(queryset: QuerySet[Any], *, files: bool = False) -> int:
    """Delete the queryset's rows BATCH at a time; with `files`, their attachments' files too."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.values_list("id", flat=True)[:BATCH])
            if not ids:
                return total
            if files:
                names = list(
                    Attachment.objects.unscoped()
                    .filter(message_id__in=ids)
                    .exclude(storage_name="")
                    .values_list("storage_name", flat=True)
                )
                # The files go after the commit: a rolled-back batch keeps its files.
                transaction.on_commit(partial(_delete_files, names))
                Attachment.objects.unscoped().filter(message_id__in=ids).delete()
            queryset.model._default_manager.unscoped().filter(id__in=ids).delete()
            total += len(ids)


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.exception("could not delete stored file %s", name)


def purge_company(company: Company, now: dt.datetime | None = None) -> Counter[str]:
    """Delete the company's rows older than its retention; return the counts per table."""
    now = now or timezone.now()
    days = retention_of(company)
    counts: Counter[str] = Counter()
    cutoff = {kind: now - dt.timedelta(days=n) for kind, n in days.items()}
    counts["messages"] = _batched_delete(
        Message.objects.for_company(company).filter(sent_at__lt=cutoff["messages"]), files=True
    )
    counts["assignment_events"] = _batched_delete(
        AssignmentEvent.objects.for_company(company).filter(created_at__lt=cutoff["events"])
    )
    # Only settled timers: a pending one is a deadline still to come, whatever its age.
    counts["sla_timers"] = _batched_delete(
        SlaTimer.objects.for_company(company).filter(
            fired_at__isnull=False, due_at__lt=cutoff["events"]
        )
    )
    counts["chat_sessions"] = _batched_delete(
        ChatSession.objects.for_company(company).filter(start_time__lt=cutoff["sessions"])
    )
    return counts


def purge_all(now: dt.datetime | None = None) -> Counter[str]:
    """Every company's purge; one company's failure does not stop the others."""
    total: Counter[str] = Counter()
    for company in Company.objects.order_by("id"):
        try:
            total.update(purge_company(company, now))
        except Exception:
            logger.exception("retention purge failed for company %s", company.pk)
    return total
