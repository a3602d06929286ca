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
    data: dict[str, Any] = {
        "id": attachment.pk,
        "name": attachment.name or _fallback_name(attachment),
        "content_type": attachment.content_type or attachment.declared_type,
        "size": attachment.size,
        "url": signing.agent_url(attachment.company_id, attachment.pk) if ready else None,
        "status": attachment.status,
    }
    if attachment.status == AttachmentStatus.FAILED:
        data["error"] = attachment.failure_reason
    return data


def attachment_list(attachments: Iterable[Attachment]) -> list[dict[str, Any]]:
    return [attachment_data(a) for a in attachments]


def _fallback_name(attachment: Attachment) -> str:
    kind = (attachment.content_type or attachment.declared_type).partition("/")[0]
    return f"{kind or 'file'}-{attachment.pk}"


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
