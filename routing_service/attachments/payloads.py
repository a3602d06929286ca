"""Attachments as the message payload shows them (REST, `chat.message` events, snapshots).

`{id, name, content_type, size, url, status}` (DESIGN.md, "Workspace"), plus `error` — the
reason in our words — when it failed. `url` is a short-lived signed link for staff of the
company, present only once the file is ready.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from routing_service.attachments import signing
from routing_service.attachments.models import Attachment, AttachmentStatus


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    ready = attachment.status == AttachmentStatus.READY
    content_type = attachment.content_type or attachment.declared_type
    data: dict[str, Any] = {
        "id": attachment.pk,
        "name": attachment.name or _fallback_name(content_type, attachment.pk),
        "content_type": content_type,
        "size": attachment.size,
        "url": signing.agent_url(attachment.company_id, attachment.pk) if ready else None,
        "status": attachment.status,
    }
    if attachment.status == AttachmentStatus.FAILED:
        data["error"] = attachment.failure_reason
    return data


def attachment_list(attachments: Iterable[Attachment]) -> list[dict[str, Any]]:
    return [attachment_data(a) for a in attachments]


_PENDING = AttachmentStatus.PENDING.value


def pending_data(pk: int, name: str, declared_type: str, size: int | None) -> dict[str, Any]:
    """`attachment_data` of an inbound file just recorded (pending, nothing sniffed yet), from
    the values written: the router builds its event without a model instance per file."""
    return {
        "id": pk,
        "name": name or _fallback_name(declared_type, pk),
        "content_type": declared_type,
        "size": size,
        "url": None,
        "status": _PENDING,
    }


def _fallback_name(content_type: str, pk: int) -> str:
    kind = content_type.partition("/")[0]
    return f"{kind or 'file'}-{pk}"


def attachments_by_message(message_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The payloads of several messages' files in one query (transcripts, exports)."""
    ids = list(message_ids)
    result: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return result
    for attachment in Attachment.objects.unscoped().filter(message_id__in=ids).order_by("pk"):
        assert attachment.message_id is not None
        result.setdefault(attachment.message_id, []).append(attachment_data(attachment))
    return result
