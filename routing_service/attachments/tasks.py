"""The attachments worker: downloads of inbound media, off the router's path.

The router records pending rows and, after its commit, enqueues `fetch_attachments(ids)` once
per batch. Each id is handled on its own: claim it (`begin_fetch`: still pending? count the
attempt), find the bytes (`fetch.locate`), stream them to storage (`fetch.download`), record
the outcome (`finish_fetch` / `fail_fetch`, which publish the message's update). A network
blip or a 429/5xx re-enqueues that id alone with a growing delay, up to `MAX_ATTEMPTS`; a
refusal (size, type, quota, 4xx, SSRF rules) fails it at once with the reason.

Idempotent: a repeated task finds the row no longer pending and does nothing; two tasks racing
on one row both may download, but only the first `finish_fetch` keeps its file. A task lost
between the router's commit and the broker is found by `retry_stale_attachments` (run by the
SLA timer's housekeeping), which enqueues pending rows older than
`ATTACHMENT_RETRY_STALE_SECONDS` again.
"""

from __future__ import annotations

import datetime as dt
import logging

import dramatiq
from django.conf import settings

from routing_service.attachments import actions, fetch, rules
from routing_service.chats.models import Channel, Message

logger = logging.getLogger(__name__)

QUEUE = "attachments"
MAX_ATTEMPTS = 5
BACKOFF_MS = (2_000, 10_000, 60_000, 300_000)
TIME_LIMIT_MS = 10 * 60_000


@dramatiq.actor(queue_name=QUEUE, max_retries=3, time_limit=TIME_LIMIT_MS)
def fetch_attachments(attachment_ids: list[int]) -> None:
    """Download each pending attachment of `attachment_ids` (see the module docstring)."""
    for attachment_id in attachment_ids:
        fetch_one(int(attachment_id))


def fetch_one(attachment_id: int) -> str:
    """One download attempt; returns what happened ("ready", "failed", "retry", "skipped")."""
    attachment = actions.begin_fetch(attachment_id)
    if attachment is None:
        return "skipped"
    message = None
    if attachment.message_id is not None:
        message = Message.objects.unscoped().filter(pk=attachment.message_id).first()
    if message is None:
        actions.fail_fetch(attachment_id, "The message is gone.")
        return "failed"
    channel = Channel.objects.unscoped().get(pk=message.channel_id)
    limits = actions.limits_for(attachment.company_id)
    try:
        if attachment.size is not None:
            rules.check_size(attachment.size, limits)  # the provider's own word: no download
        request = fetch.locate(attachment, channel)
        stored = fetch.download(request, limits, attachment.company_id, attachment.declared_type)
    except rules.Refused as refused:
        actions.fail_fetch(attachment_id, refused.reason)
        return "failed"
    except fetch.FetchError as error:
        if error.retryable and attachment.attempts < MAX_ATTEMPTS:
            delay = BACKOFF_MS[min(attachment.attempts, len(BACKOFF_MS)) - 1]
            logger.info("attachment %s: %s; retrying in %d ms", attachment_id, error, delay)
            fetch_attachments.send_with_options(args=([attachment_id],), delay=delay)
            return "retry"
        actions.fail_fetch(attachment_id, error.reason)
        return "failed"
    except Exception as exc:
        logger.exception("attachment %s: download failed", attachment_id)
        if attachment.attempts < MAX_ATTEMPTS:
            fetch_attachments.send_with_options(args=([attachment_id],), delay=BACKOFF_MS[-1])
            return "retry"
        actions.fail_fetch(attachment_id, f"Internal error ({type(exc).__name__}).")
        return "failed"
    return actions.finish_fetch(attachment_id, stored)


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def retry_stale_attachments() -> None:
    """Enqueue again the downloads still pending long after they were recorded."""
    older = dt.timedelta(seconds=settings.ATTACHMENT_RETRY_STALE_SECONDS)
    ids = actions.stale_pending(older)
    for start in range(0, len(ids), 50):
        fetch_attachments.send(ids[start : start + 50])
    if ids:
        logger.info("re-enqueued %d stale attachment downloads", len(ids))
