"""The agent's workspace around a chat: labels, canned responses and notes about a client.

Imported by `routing_service.chats.models`, so these are models of the `chats` app. Written only
by the actions in `routing_service.chats.actions` (labels, canned, clients).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from routing_service.tenancy.managers import TenantModel


class Label(TenantModel):
    """A company's label (name unique per company, colour `#rrggbb`)."""

    name = models.CharField(max_length=64)
    color = models.CharField(max_length=7, default="#6b7280")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="label_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class ConversationLabel(TenantModel):
    """A label on a chat. The join row serves the `?label=` filter and per-label analytics; the
    chat keeps the names too (`Conversation.labels`), so events carry them without a query."""

    conversation = models.ForeignKey(
        "chats.Conversation", on_delete=models.CASCADE, related_name="label_links"
    )
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "label"], name="conversation_label_unique"
            )
        ]
        indexes = [
            # `?label=`: "WHERE label_id = ?" → the chats, then joined to the company's list.
            models.Index(fields=["label", "conversation"], name="conversation_label_idx"),
        ]


class CannedResponse(TenantModel):
    """A reusable answer: company-wide (`owner` null) or an agent's own (`owner` set).

    Shortcodes are unique per scope: once among the company's shared ones, once per owner.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="canned_responses",
    )
    shortcode = models.CharField(max_length=32)
    title = models.CharField(max_length=120)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcode", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "shortcode"],
                condition=Q(owner__isnull=True),
                name="canned_unique_company_shortcode",
            ),
            models.UniqueConstraint(
                fields=["company", "owner", "shortcode"],
                condition=Q(owner__isnull=False),
                name="canned_unique_personal_shortcode",
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcode}"

    @property
    def scope(self) -> str:
        return "company" if self.owner_id is None else "personal"


class ClientNote(TenantModel):
    """A note about a customer that outlives any one chat ("prefers email", "VIP since 2021").

    Separate from chat notes (`Message.kind = note`), which belong to one conversation's
    transcript: these are shown in the profile panel of every chat with the client.
    """

    client = models.ForeignKey("chats.Client", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="client_note_idx")]

    def __str__(self) -> str:
        return self.text[:40]
