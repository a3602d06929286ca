"""The right to erasure: remove one customer's personal data everywhere, keep the numbers.

`erase_client` is the one action the command, the admin and the REST endpoint call. What it
does, table by table (docs/operations.md "Erasing a customer"):

* the Client row stays (conversations, and so every metric, hang off it) but loses its name,
  e-mail, phone, language, metadata, attributes and external id (now `erased:<pk>`: unique, and
  a later message from the same person starts a new, unrelated profile);
* messages and chat notes of their conversations: text, metadata and delivery errors emptied;
  attachments: files deleted from storage, rows deleted;
* conversations: subject and CSAT comment emptied (the rating, a number, stays);
* supervisors' whispers in their chats and free-text reasons of assignment events: emptied;
* notes about the client, their notifications, their dead letters and pending outbox rows:
  deleted;
* chat sessions: those of their conversations, and imported ones whose transcript contains
  their e-mail, phone or external id (the CSV carries no customer id: that is as far as they
  are identifiable): transcript, first message and IP address emptied;
* Redis: the company's event log entries about their conversations or carrying their
  identifiers, and inbound / dead-letter stream entries from them: deleted (XDEL).

Timings, statuses, SLA outcomes and counts stay, so daily roll-ups recomputed later give the
same figures. Idempotent: a second run finds nothing left and says so. The ErasureRecord audit
row holds counts and the client's row id, nothing personal.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from analytics.models import ChatSession
from events.log import log_key
from events.models import OutboxEvent
from events.redis_clients import sync_client
from routing_service.attachments.models import Attachment
from routing_service.chats.models import (
    AssignmentEvent,
    ChatNotification,
    Client,
    Conversation,
    Message,
    Whisper,
)
from routing_service.chats.workspace_models import ClientNote
from routing_service.ingest import stream
from routing_service.retention.models import ErasureRecord
from routing_service.retention.purge import _delete_files
from routing_service.router.models import DeadLetter
from routing_service.tenancy.models import Company, User

logger = logging.getLogger(__name__)

ERASED_PREFIX = "erased:"
_SCAN_CHUNK = 500
# Identifiers shorter than this would match unrelated text ("12", "a@b"): not used for search.
_MIN_IDENTIFIER = 5


def find_client(company: Company, ref: str) -> Client:
    """The company's client by external id, else by row id; `Client.DoesNotExist` otherwise."""
    clients = Client.objects.for_company(company)
    found = clients.filter(external_id=ref).first()
    if found is None and ref.isdigit():
        found = clients.filter(pk=int(ref)).first()
    if found is None:
        raise Client.DoesNotExist(ref)
    return found


def identifiers(client: Client) -> list[str]:
    """Strings that identify the client in free text (transcripts, stream payloads)."""
    values = [client.external_id, client.email, client.phone]
    # "whatsapp:+4915..." is stored provider-prefixed; the bare number appears in payloads.
    if ":" in client.external_id:
        values.append(client.external_id.split(":", 1)[1])
    return sorted(
        {v for v in values if len(v) >= _MIN_IDENTIFIER and not v.startswith(ERASED_PREFIX)}
    )


def erase_client(
    company: Company, client: Client, *, by: User | None = None
) -> tuple[ErasureRecord, Counter[str]]:
    """Erase the client's personal data (see the module docstring); return the audit row."""
    if client.company_id != company.pk:
        raise Client.DoesNotExist(client.pk)  # never act on another company's row
    marks = identifiers(client)
    files: list[str] = []
    counts: Counter[str] = Counter()
    with transaction.atomic():
        client = Client.objects.for_company(company).select_for_update().get(pk=client.pk)
        conversation_ids = list(
            Conversation.objects.for_company(company)
            .filter(client=client)
            .values_list("id", flat=True)
        )
        counts.update(_erase_rows(company, client, conversation_ids, marks, files))
        # The files go once the rows are gone for good.
        transaction.on_commit(lambda: _delete_files(files))
    counts.update(_erase_redis(company, client, conversation_ids, marks))
    counts = Counter({k: v for k, v in counts.items() if v})
    record = ErasureRecord.objects.create(
        company=company, client_ref=client.pk, requested_by=by, counts=dict(counts)
    )
    logger.info("client %s of company %s erased: %s", client.pk, company.pk, dict(counts))
    return record, counts


def _erase_rows(
    company: Company,
    client: Client,
    conversation_ids: list[int],
    marks: list[str],
    files: list[str],
) -> Counter[str]:
    counts: Counter[str] = Counter()
    messages = Message.objects.for_company(company).filter(conversation_id__in=conversation_ids)
    attachments = Attachment.objects.for_company(company).filter(message__in=messages)
    files.extend(n for n in attachments.values_list("storage_name", flat=True) if n)
    counts["attachment_files"] = len(files)
    counts["attachments"] = attachments.delete()[0]
    counts["messages"] = messages.exclude(text="", metadata={}, delivery_error="").update(
        text="", metadata={}, delivery_error=""
    )
    counts["conversations"] = (
        Conversation.objects.for_company(company)
        .filter(id__in=conversation_ids)
        .exclude(subject="", csat_comment="")
        .update(subject="", csat_comment="")
    )
    counts["whispers"] = (
        Whisper.objects.for_company(company)
        .filter(conversation_id__in=conversation_ids)
        .exclude(text="")
        .update(text="")
    )
    counts["assignment_event_reasons"] = (
        AssignmentEvent.objects.for_company(company)
        .filter(conversation_id__in=conversation_ids)
        .exclude(reason="")
        .update(reason="")
    )
    counts["client_notes"] = (
        ClientNote.objects.for_company(company).filter(client=client).delete()[0]
    )
    counts["notifications"] = (
        ChatNotification.objects.for_company(company).filter(client=client).delete()[0]
    )
    sessions = Q(conversation_id__in=conversation_ids)
    for mark in marks:
        sessions |= Q(full_transcript__contains=mark) | Q(initial_msg__contains=mark)
    counts["chat_sessions"] = (
        ChatSession.objects.for_company(company)
        .filter(sessions)
        .exclude(full_transcript="", initial_msg="", ip_address=None)
        .update(full_transcript="", initial_msg="", ip_address=None)
    )
    counts["dead_letters"] = _delete_matching(
        DeadLetter.objects.filter(company=company), "payload", lambda p: _entry_is_theirs(p, client)
    )
    counts["outbox_events"] = _delete_matching(
        OutboxEvent.objects.filter(company_id=company.pk),
        "data",
        lambda d: _event_is_theirs(d, client.pk, conversation_ids, marks),
    )
    erased_id = f"{ERASED_PREFIX}{client.pk}"
    if client.external_id != erased_id or client.name or client.email or client.phone:
        counts["client_profile"] = 1
    Client.objects.for_company(company).filter(pk=client.pk).update(
        external_id=erased_id,
        name="",
        email="",
        phone="",
        language="",
        metadata={},
        attributes={},
    )
    return counts


def _delete_matching(queryset: Any, field: str, theirs: Callable[[str], bool]) -> int:
    ids = [pk for pk, value in queryset.values_list("id", field).iterator() if theirs(value)]
    return queryset.filter(id__in=ids).delete()[0] if ids else 0


def _entry_is_theirs(payload: str | bytes, client: Client) -> bool:
    """An inbound stream entry (or dead letter) sent by the client."""
    try:
        entry = stream.decode(payload.encode() if isinstance(payload, str) else payload)
    except Exception:  # an undecodable payload is nobody's in particular
        return False
    if not isinstance(entry, stream.InboundEntry) or entry.company_id != client.company_id:
        return False
    external = entry.message.client_external_id
    return external == client.external_id or external == f"{ERASED_PREFIX}{client.pk}"


def _event_is_theirs(
    data_json: str | bytes, client_id: int, conversation_ids: Iterable[int], marks: list[str]
) -> bool:
    """An event payload about the client's conversations or carrying their identifiers."""
    text = data_json.decode() if isinstance(data_json, bytes) else data_json
    if any(mark in text for mark in marks):
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    conversations = set(conversation_ids)
    if data.get("conversation_id") in conversations:
        return True
    nested = data.get("client")
    return data.get("client_id") == client_id or (
        isinstance(nested, dict) and nested.get("id") == client_id
    )


def _erase_redis(
    company: Company, client: Client, conversation_ids: list[int], marks: list[str]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    try:
        conn = sync_client(settings.REDIS_URL)
        pattern = log_key(company.pk, "*")
        for key in conn.scan_iter(match=pattern, count=_SCAN_CHUNK):

            def theirs(fields: dict[Any, Any]) -> bool:
                envelope = json.loads(fields.get(b"e", b"{}"))
                data = envelope.get("data") if isinstance(envelope, dict) else None
                return _event_is_theirs(json.dumps(data or {}), client.pk, conversation_ids, marks)

            counts["redis_log_entries"] += _xdel_matching(conn, key, theirs)
        shard = stream.shard_of(company.pk)
        for key in (stream.stream_key(shard), stream.dead_letter_key(shard)):
            counts["redis_stream_entries"] += _xdel_matching(
                conn, key, lambda f: _entry_is_theirs(f.get(b"e", b""), client)
            )
    except redis.RedisError:
        # The database part is done and recorded; the caller sees the error and runs it again
        # (idempotent) once Redis answers.
        logger.exception("erasure of client %s: Redis part failed", client.pk)
        raise
    return counts


def _xdel_matching(
    conn: redis.Redis, key: str | bytes, theirs: Callable[[dict[Any, Any]], bool]
) -> int:
    """XDEL the entries of one stream that `theirs` picks, reading it in chunks."""
    deleted = 0
    start = "-"
    while True:
        entries: list[tuple[Any, Any]] = (
            conn.xrange(key, min=start, max="+", count=_SCAN_CHUNK) or []
        )
        if not entries:
            return deleted
        doomed = [entry_id for entry_id, fields in entries if theirs(fields)]
        if doomed:
            deleted += int(conn.xdel(key, *doomed))
        if len(entries) < _SCAN_CHUNK:
            return deleted
        last = entries[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
