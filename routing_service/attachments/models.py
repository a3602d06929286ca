"""Attachments: a file on a message (inbound media or an agent's upload) and the company's limits.

An inbound attachment is born `pending` in the router's transaction, with only what the
provider said of it (its media id or URL, a declared type and name); the download worker fills
in the stored file, the sniffed content type and the size, and marks it `ready` or `failed`
with a reason. An upload is born `ready` without a message and is attached to one by the reply
that sends it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from routing_service.tenancy.managers import TenantModel


class AttachmentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class AttachmentSource(models.TextChoices):
    """Where the bytes come from: how the download worker finds them."""

    UPLOAD = "upload", "Uploaded by an agent"
    URL = "url", "A URL (generic webhook)"
    WHATSAPP = "whatsapp", "WhatsApp media id"
    TELEGRAM = "telegram", "Telegram file id"
    TWILIO = "twilio", "Twilio media URL"


class Attachment(TenantModel):
    # No foreign key in the database: the message table is partitioned by month and its
    # primary key there is (id, created_at). The ORM still cascades; dropping a month of
    # messages deletes their attachments (and files) first (retention.partitions).
    # Indexed by `attachment_message_idx` (message, id), not a second index of its own: every
    # index is one more write per file on the router's path.
    message = models.ForeignKey(
        "chats.Message",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
        db_constraint=False,
        db_index=False,
    )
    source = models.CharField(max_length=16, choices=AttachmentSource.choices)
    # The provider's media id, file id or URL (never shown to agents: it may carry credentials).
    source_ref = models.TextField(blank=True, default="")
    name = models.CharField(max_length=255, blank=True, default="")
    # What the sender claimed; `content_type` is what the bytes turned out to be.
    declared_type = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=255, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=AttachmentStatus.choices, default=AttachmentStatus.PENDING
    )
    # Why it failed, in our words (never the remote answer's body).
    failure_reason = models.CharField(max_length=300, blank=True, default="")
    # The name in Django's default storage ("" until stored). A plain column, not a FileField:
    # the bytes are written by the download worker, streamed, never through a model save.
    storage_name = models.CharField(max_length=255, blank=True, default="")
    # Indexed only where set (`attachment_uploader_idx`): inbound files have no uploader.
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # A message's files (transcripts, events): "WHERE message_id IN (...) ORDER BY id".
            models.Index(fields=["message", "id"], name="attachment_message_idx"),
            # The sweep of downloads whose task was lost: "WHERE status = 'pending' AND
            # created_at < ?" — only pending rows are in it.
            models.Index(
                fields=["created_at"],
                condition=Q(status=AttachmentStatus.PENDING),
                name="attachment_pending_idx",
            ),
            # The quota: "SUM(size) WHERE company_id = ? AND status = 'ready'".
            models.Index(fields=["company", "status"], name="attachment_company_idx"),
            # An agent's uploads (a user's deletion sets them to NULL): inbound rows stay out.
            models.Index(
                fields=["uploaded_by"],
                condition=Q(uploaded_by__isnull=False),
                name="attachment_uploader_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or f'attachment {self.pk}'} ({self.status})"


class AttachmentPolicy(TenantModel):
    """A company's limits; a company without a row has the defaults of the settings."""

    company = models.OneToOneField(
        "tenancy.Company", on_delete=models.CASCADE, related_name="attachment_policy"
    )
    max_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Largest file; empty: ATTACHMENT_MAX_BYTES."
    )
    # Categories of rules.CATEGORIES ("image", "pdf", "audio", "video", "office"); empty: all.
    allowed_categories = models.JSONField(default=list, blank=True)
    quota_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="All files of the company together; empty: ATTACHMENT_QUOTA_BYTES (0: none).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "attachment policies"

    def __str__(self) -> str:
        return f"{self.company} attachment limits"
