"""Every write of attachments, and the `chat.message` update that tells consoles about it.

* `record_inbound` — called by the router inside its batch transaction: one `pending` row per
  file the provider named, and one task per batch enqueued after the commit. No download, no
  network: the router's cost is one INSERT per batch that carries files.
* `begin_fetch` / `finish_fetch` / `fail_fetch` — the download worker's steps, each under the
  row's lock and conditional on it still being pending, so a late or repeated task changes
  nothing; the finished state is published as a `chat.message` with the same message id.
* `store_upload` — an agent's file (the REST upload): checked, stored, `ready`, no message yet.
* `attach_uploads` — a reply takes the caller's uploads (inside the reply's transaction).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import IO, Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.attachments import rules, storage
from routing_service.attachments.models import (
    Attachment,
    AttachmentPolicy,
    AttachmentSource,
    AttachmentStatus,
)
from routing_service.attachments.payloads import attachment_list, pending_data
from routing_service.chats.actions.errors import ActionError
from routing_service.chats.models import ACTIVE_ASSIGNMENT_STATUSES, ChatAssignment, Message
from routing_service.ingest.adapters.base import MediaRef

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS_PER_MESSAGE = 10


# --- limits ----------------------------------------------------------------------------------


def limits_for(company_id: int) -> rules.Limits:
    policy = AttachmentPolicy.objects.unscoped().filter(company_id=company_id).first()
    max_bytes = settings.ATTACHMENT_MAX_BYTES
    quota = settings.ATTACHMENT_QUOTA_BYTES
    categories: Iterable[str] = ()
    if policy is not None:
        max_bytes = policy.max_bytes or max_bytes
        quota = policy.quota_bytes if policy.quota_bytes is not None else quota
        categories = policy.allowed_categories or ()
    return rules.Limits(max_bytes, rules.normalise_categories(categories), quota)


def used_bytes(company_id: int) -> int:
    """What the company's stored files take (the quota's measure; served by an index)."""
    total = (
        Attachment.objects.unscoped()
        .filter(company_id=company_id, status=AttachmentStatus.READY)
        .aggregate(total=Sum("size"))["total"]
    )
    return int(total or 0)


# --- inbound (the router) --------------------------------------------------------------------


def record_inbound(
    company_id: int, files: Sequence[tuple[int, MediaRef]]
) -> list[tuple[int, dict[str, Any]]]:
    """Pending rows for the files of a batch's messages (`(message id, ref)`); their download is
    enqueued at commit. Returns `(message id, payload)` per file, in the order given.

    On the router's path, so built without model instances: the rows go as one JSON document
    (one parameter, dumped in C) into one `INSERT … SELECT`, and the payloads are made from the
    same values and the returned ids — what `attachment_data` says of the row.
    Precondition: inside the router's transaction, the messages inserted (they have ids).
    """
    if not files:
        return []
    names = [rules.safe_name(ref.name, fallback="") for _, ref in files]
    if connection.vendor == "postgresql":
        now = timezone.now()
        rows = [
            {
                "message_id": message_id,
                "source": ref.source,
                "source_ref": ref.ref,
                "name": name,
                "declared_type": ref.content_type,
                "size": ref.size,
            }
            for (message_id, ref), name in zip(files, names, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_PENDING,
                [company_id, AttachmentStatus.PENDING.value, now, now, orjson.dumps(rows).decode()],
            )
            # The ids come from the sequence in the SELECT's order (`ORDER BY`): sorted, they
            # are the files' in the order given, whatever order RETURNING lists them in.
            ids = sorted(row[0] for row in cursor.fetchall())
    else:  # the SQLite demo
        created = Attachment.objects.unscoped().bulk_create(
            Attachment(
                company_id=company_id,
                message_id=message_id,
                source=ref.source,
                source_ref=ref.ref,
                name=name,
                declared_type=ref.content_type,
                size=ref.size,
                status=AttachmentStatus.PENDING,
            )
            for (message_id, ref), name in zip(files, names, strict=True)
        )
        ids = [attachment.pk for attachment in created]
    transaction.on_commit(lambda: enqueue_fetch(ids), robust=True)
    return [
        (message_id, pending_data(pk, name, ref.content_type, ref.size))
        for pk, name, (message_id, ref) in zip(ids, names, files, strict=True)
    ]


# Every column written (the others are nullable: `uploaded_by_id`).
_INSERT_PENDING = """
INSERT INTO attachments_attachment (
    company_id, status, created_at, updated_at, message_id, source, source_ref, name,
    declared_type, size, content_type, failure_reason, storage_name, attempts
)
SELECT %s, %s, %s, %s, f.message_id, f.source, f.source_ref, f.name, f.declared_type, f.size,
       '', '', '', 0
FROM ROWS FROM (json_populate_recordset(NULL::attachments_attachment, %s::json))
     WITH ORDINALITY AS f
ORDER BY f.ordinality
RETURNING id
"""


def enqueue_fetch(ids: list[int]) -> None:
    from routing_service.attachments.tasks import fetch_attachments

    fetch_attachments.send(ids)


def stale_pending(older_than: dt.timedelta, limit: int = 500) -> list[int]:
    """Pending downloads whose task was lost (a router that died between commit and enqueue,
    a broker that dropped it): the sweep enqueues them again."""
    cutoff = timezone.now() - older_than
    return list(
        Attachment.objects.unscoped()
        .filter(status=AttachmentStatus.PENDING, created_at__lt=cutoff)
        .exclude(source=AttachmentSource.UPLOAD)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- the download worker's steps -------------------------------------------------------------


def lock_attachment(attachment_id: int) -> Attachment | None:
    """The row, locked (`SELECT … FOR UPDATE`): one worker at a time moves it out of pending.
    Taken alone, never with a chat lock, so it cannot form a cycle. Inside a transaction."""
    return Attachment.objects.unscoped().select_for_update().filter(pk=attachment_id).first()


def begin_fetch(attachment_id: int) -> Attachment | None:
    """Count an attempt on a pending download; None when there is nothing to do."""
    with transaction.atomic():
        attachment = lock_attachment(attachment_id)
        if attachment is None or attachment.status != AttachmentStatus.PENDING:
            return None
        attachment.attempts += 1
        attachment.save(update_fields=["attempts", "updated_at"])
        return attachment


def finish_fetch(attachment_id: int, stored: storage.Stored) -> str:
    """Record a stored download as "ready" — or "failed" over the quota (checked under the
    company's quota lock); "skipped" when someone else finished it meanwhile. The new file is
    removed again unless it is kept."""
    with transaction.atomic():
        attachment = lock_attachment(attachment_id)
        if attachment is None or attachment.status != AttachmentStatus.PENDING:
            storage.delete(stored.name)
            return "skipped"
        limits = limits_for(attachment.company_id)
        _lock_company_quota(attachment.company_id)
        try:
            rules.check_quota(stored.size, used_bytes(attachment.company_id), limits)
        except rules.Refused as refused:
            storage.delete(stored.name)
            _fail(attachment, refused.reason)
            return "failed"
        attachment.storage_name = stored.name
        attachment.content_type = stored.content_type
        attachment.size = stored.size
        attachment.status = AttachmentStatus.READY
        attachment.failure_reason = ""
        attachment.save(
            update_fields=[
                "storage_name",
                "content_type",
                "size",
                "status",
                "failure_reason",
                "updated_at",
            ]
        )
        _publish_message(attachment.message_id)
    return "ready"


def fail_fetch(attachment_id: int, reason: str) -> bool:
    """A final refusal or failure: `failed` with our reason; False if no longer pending."""
    with transaction.atomic():
        attachment = lock_attachment(attachment_id)
        if attachment is None or attachment.status != AttachmentStatus.PENDING:
            return False
        _fail(attachment, reason)
    return True


def _fail(attachment: Attachment, reason: str) -> None:
    attachment.status = AttachmentStatus.FAILED
    attachment.failure_reason = reason[:300]
    attachment.save(update_fields=["status", "failure_reason", "updated_at"])
    _publish_message(attachment.message_id)


def _publish_message(message_id: int | None) -> None:
    """The message again (same id, its files' new state) to whoever got the message itself:
    the chat's holder and the agent who wrote it (as replies.py and delivery.py address it)."""
    if message_id is None:
        return
    from routing_service.chats.payloads import message_data

    message = Message.objects.unscoped().filter(pk=message_id).first()
    if message is None:
        return
    holder = (
        ChatAssignment.objects.unscoped()
        .filter(conversation_id=message.conversation_id, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .values_list("agent_id", flat=True)
        .first()
    )
    publish_on_commit(
        [
            make_event(
                EventType.CHAT_MESSAGE,
                message.company_id,
                message_data(message),
                agents=[holder, message.sender_id],
            )
        ]
    )


# --- uploads (outbound) ----------------------------------------------------------------------


def store_upload(
    company_id: int, user_id: int | None, name: str, declared_type: str, file: IO[bytes]
) -> Attachment:
    """Check and store an agent's file; refused files raise ActionError on the `file` field.

    The bytes are copied to storage in chunks while counting, so an upload over the limit is
    refused without being held in memory (Django already spooled it to a temporary file).
    """
    limits = limits_for(company_id)
    try:
        stored = storage.save_stream(
            company_id, storage.chunks_of(file), limits, declared_type=declared_type
        )
    except rules.Refused as refused:
        raise ActionError("invalid", refused.reason, field="file", status=400) from None
    with transaction.atomic():
        # The quota under the company's attachment lock, so two uploads cannot both squeeze in.
        _lock_company_quota(company_id)
        try:
            rules.check_quota(stored.size, used_bytes(company_id), limits)
        except rules.Refused as refused:
            transaction.on_commit(lambda: storage.delete(stored.name))
            raise ActionError("quota_exceeded", refused.reason, field="file", status=400) from None
        return Attachment.objects.create(
            company_id=company_id,
            source=AttachmentSource.UPLOAD,
            name=rules.safe_name(name),
            declared_type=declared_type[:255],
            content_type=stored.content_type,
            size=stored.size,
            storage_name=stored.name,
            status=AttachmentStatus.READY,
            uploaded_by_id=user_id,
        )


def _lock_company_quota(company_id: int) -> None:
    """A transaction-scoped advisory lock per company (namespace 0x5B0C): serialises quota
    checks of one company. Not taken by the router, never with the routing lock held after it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x5B0C, company_id])


def attach_uploads(message: Message, user_id: int, attachment_ids: Sequence[int]) -> list[Any]:
    """Give the caller's unsent uploads to `message` (inside the reply's transaction).

    Refuses ids that are not the caller's uploads of this company, already sent, or too many.
    Returns the attachments' payloads (for the reply's event).
    """
    wanted = list(dict.fromkeys(attachment_ids))
    if len(wanted) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise ActionError(
            "invalid",
            f"At most {MAX_ATTACHMENTS_PER_MESSAGE} files per message.",
            field="attachment_ids",
            status=400,
        )
    found = list(
        Attachment.objects.unscoped()
        .select_for_update()
        .filter(
            pk__in=wanted,
            company_id=message.company_id,
            uploaded_by_id=user_id,
            source=AttachmentSource.UPLOAD,
            status=AttachmentStatus.READY,
            message__isnull=True,
        )
        .order_by("pk")
    )
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - {a.pk for a in found})
        raise ActionError(
            "invalid",
            f"Unknown or already sent attachment ids: {', '.join(map(str, missing))}.",
            field="attachment_ids",
            status=400,
        )
    Attachment.objects.unscoped().filter(pk__in=wanted).update(
        message=message, updated_at=timezone.now()
    )
    order = {pk: i for i, pk in enumerate(wanted)}
    found.sort(key=lambda a: order[a.pk])
    for attachment in found:
        attachment.message = message
    return attachment_list(found)
