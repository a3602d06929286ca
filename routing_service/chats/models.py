"""The chat domain: inboxes, clients, conversations (queue entries), messages, assignments.

These models are written only by `routing_service.chats.actions` (and the router that calls
them); the rules that must always hold are database constraints, not hopes:

* one open conversation (queue entry) per client and company;
* one message per channel and provider message id (webhook retries are harmless): the
  primary key of `MessageKey`, kept by triggers on the (partitioned) message table;
* at most one active assignment per conversation.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from routing_service.tenancy.managers import TenantModel


class Provider(models.TextChoices):
    GENERIC = "generic", "Generic JSON"
    TWILIO = "twilio", "Twilio SMS"
    WHATSAPP = "whatsapp", "WhatsApp Cloud API"
    TELEGRAM = "telegram", "Telegram Bot API"


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class ConversationStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    ASSIGNED = "assigned", _("Assigned")
    RESOLVED = "resolved", _("Resolved")
    ABANDONED = "abandoned", _("Abandoned")


OPEN_CONVERSATION_STATUSES = (ConversationStatus.WAITING, ConversationStatus.ASSIGNED)


class AssignmentStatus(models.TextChoices):
    OFFERED = "offered", _("Offered")
    ACCEPTED = "accepted", _("Accepted")
    RESOLVED = "resolved", _("Resolved")
    ESCALATED = "escalated", _("Escalated")
    TRANSFERRED = "transferred", _("Transferred")
    EXPIRED = "expired", _("Expired")
    DECLINED = "declined", _("Declined")


ACTIVE_ASSIGNMENT_STATUSES = (AssignmentStatus.OFFERED, AssignmentStatus.ACCEPTED)


class RoutingStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin"
    LEAST_BUSY = "least_busy", "Least busy"
    MANUAL = "manual", "Manual (agents pick from the queue)"


class Channel(TenantModel):
    """An inbox: one provider account whose webhooks arrive at /webhooks/<provider>/<uuid>/."""

    name = models.CharField(max_length=120)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # What authenticates the provider: generic signing secret, Twilio auth token, WhatsApp app
    # secret or Telegram secret token. `previous_secret` stays valid during a rotation.
    secret = models.CharField(max_length=255)
    previous_secret = models.CharField(max_length=255, blank=True, default="")
    # Everything else: callback_url, api_base_url, credentials, verify_token.
    config = models.JSONField(default=dict, blank=True)
    max_body_bytes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Webhook body limit; empty means the server default."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["company", "provider"], name="channel_company_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/{self.provider}/{self.uuid}/"

    @property
    def webhook_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}{self.webhook_path}"


class Client(TenantModel):
    """The end customer, identified per company by the provider-qualified external id."""

    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    language = models.CharField(max_length=16, blank=True, default="")
    is_vip = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    # Free-form facts staff keep about the customer (plan, account id…): a flat object of
    # scalars, validated by `routing_service.chats.attributes`.
    attributes = models.JSONField(default=dict, blank=True, db_default={})
    created_at = models.DateTimeField(auto_now_add=True)
    # The satisfaction survey waiting for this client's answer (chats/csat.py). Kept on the
    # client because the router already reads the client row of every sender in its batch:
    # recognising an answer costs no extra query.
    csat_conversation = models.ForeignKey(
        "Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    csat_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "external_id"], name="client_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.external_id


class Conversation(TenantModel):
    """A chat and its queue entry (DESIGN.md's Conversation / ChatQueue)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="conversations")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations")
    # The named queue it waits in or was answered from (routing_service/queues): set by the
    # router from the company's queue rules; null only for closed chats whose queue was deleted.
    queue = models.ForeignKey(
        "queues.Queue",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    # Since when it is in its current queue: overflow by time counts from here.
    queue_entered_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.WAITING
    )
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    # Rank of `priority` (0 low … 3 urgent) so the queue sorts in the index, not in Python.
    priority_rank = models.PositiveSmallIntegerField(default=1)
    language = models.CharField(max_length=16, blank=True, default="")
    category = models.CharField(max_length=64, blank=True, default="")
    subject = models.CharField(max_length=255, blank=True, default="")
    # The SLA clock starts when the first message arrives, not when an agent is found.
    created_at = models.DateTimeField()
    queued_at = models.DateTimeField(help_text="Since when the chat waits in the queue.")
    last_message_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_response_met = models.BooleanField(null=True, blank=True)
    resolution_met = models.BooleanField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    # Whether the agent spoke last: the SLA may pause while the chat waits on the customer.
    waiting_on_customer_since = models.DateTimeField(null=True, blank=True)
    # The customer's answer to the satisfaction survey sent after resolve (chats/csat.py).
    csat_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.TextField(blank=True, default="")
    csat_requested_at = models.DateTimeField(null=True, blank=True)
    csat_answered_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    # The names of its labels, sorted: kept by the label actions next to the join rows
    # (`ConversationLabel`) so that every chat event carries them without a query.
    labels = models.JSONField(default=list, blank=True, db_default=[])

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "client"],
                condition=Q(status__in=OPEN_CONVERSATION_STATUSES),
                name="conversation_one_open_per_client",
            ),
            models.CheckConstraint(
                condition=Q(csat_rating__isnull=True) | Q(csat_rating__gte=1, csat_rating__lte=5),
                name="conversation_csat_rating_1_to_5",
            ),
        ]
        indexes = [
            # Router: the queue, served highest priority first then oldest —
            # "WHERE company_id = ? AND status = 'waiting' ORDER BY priority_rank DESC, queued_at".
            models.Index(
                "company",
                models.F("priority_rank").desc(),
                "queued_at",
                condition=Q(status=ConversationStatus.WAITING),
                name="conversation_queue_idx",
            ),
            # Overflow sweep and per-queue waiting lists: "WHERE queue_id = ? AND status =
            # 'waiting' ORDER BY queue_entered_at".
            models.Index(
                fields=["queue", "queue_entered_at"],
                condition=Q(status=ConversationStatus.WAITING),
                name="conversation_queue_wait_idx",
            ),
            # API list and dashboards: "WHERE company_id = ? [AND status = ?] ORDER BY created_at".
            models.Index(
                fields=["company", "status", "created_at"], name="conv_company_status_idx"
            ),
            models.Index(fields=["company", "created_at"], name="conv_company_created_idx"),
            # Live metrics' window (analytics/live_metrics.py): "WHERE company_id = ? AND
            # (created_at >= ? OR first_response_at >= ? OR resolved_at >= ?)" — chats answered,
            # and chats resolved or abandoned, in the last minutes; partial, so chats never
            # answered (or still open) cost nothing.
            models.Index(
                fields=["company", "first_response_at"],
                condition=Q(first_response_at__isnull=False),
                name="conv_company_answered_idx",
            ),
            models.Index(
                fields=["company", "resolved_at"],
                condition=Q(resolved_at__isnull=False),
                name="conv_company_ended_idx",
            ),
            # Supervisors' conversations page, newest activity first with a keyset cursor:
            # "WHERE company_id = ? [AND status IN ...] AND (last_message_at, id) < (?, ?)
            # ORDER BY last_message_at DESC, id DESC LIMIT n".
            models.Index(
                "company",
                models.F("last_message_at").desc(),
                models.F("id").desc(),
                name="conv_company_activity_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.client} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CONVERSATION_STATUSES


class MessageDirection(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class MessageKind(models.TextChoices):
    MESSAGE = "message", "Message"
    # Staff only: never delivered to the customer, never counted as a response.
    NOTE = "note", "Internal note"


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")


class Message(TenantModel):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=8, choices=MessageDirection.choices)
    kind = models.CharField(
        max_length=8, choices=MessageKind.choices, default=MessageKind.MESSAGE, db_default="message"
    )
    # The provider's id: inbound messages always have one; outbound ones get it on delivery.
    provider_message_id = models.CharField(max_length=255, null=True, blank=True)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    text = models.TextField()
    sent_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivery_status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED
    )
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    delivery_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["sent_at", "id"]
        # One message per (channel, provider message id): not a unique index here (the table
        # is partitioned by month of `created_at`, and a partitioned unique index would have
        # to include it) but `MessageKey`'s primary key, written by the table's triggers.
        indexes = [
            # Transcript: "WHERE conversation_id = ? ORDER BY sent_at, id".
            models.Index(fields=["conversation", "sent_at", "id"], name="message_transcript_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.text[:40]}"


class MessageKey(models.Model):
    """The de-duplication key of a message: (channel, provider message id), unique for as long
    as the message exists, across every month of the partitioned message table.

    Written only by database triggers on `chats_message` (routing_service/chats/message_keys.py):
    an insert of a message adds its key in the same statement — a taken key raises a unique
    violation, exactly as the unique index did before the table was partitioned —, a change of
    channel, provider id or `created_at` moves it, a delete removes it, a TRUNCATE empties the
    table. Dropping a month of messages deletes its keys first (`retention.partitions`).
    Not tenant-scoped: no personal data, read only by the router's and receipts' look-ups.
    """

    pk = models.CompositePrimaryKey("channel_id", "provider_message_id")
    # Plain columns, no foreign keys: no referential check on the router's insert path; the
    # triggers keep them equal to the message's.
    channel_id = models.BigIntegerField()
    provider_message_id = models.CharField(max_length=255)
    message_id = models.BigIntegerField()
    # The message's `created_at` (its partition): the keys of a dropped month go by it.
    created_at = models.DateTimeField()

    # Plus, on PostgreSQL, a BRIN index on `created_at` (migration chats.0011: not here, SQLite
    # has none): keys arrive in time order, so block ranges find a month's keys for the drop at
    # almost no cost per insert, where a B-tree would be one more index on the router's path.

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.provider_message_id} → {self.message_id}"


class ChatAssignment(TenantModel):
    """Who handles a conversation, with the SLA due times that apply to them."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="assignments"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    status = models.CharField(
        max_length=12, choices=AssignmentStatus.choices, default=AssignmentStatus.OFFERED
    )
    offered_at = models.DateTimeField()
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalation_reason = models.TextField(blank=True, default="")
    end_reason = models.TextField(blank=True, default="")
    # A declined offer: until then the router does not offer the chat to this agent again.
    # Cleared (set to null) once the cool-down has ended and the queue was routed again.
    cooldown_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-offered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=ACTIVE_ASSIGNMENT_STATUSES),
                name="assignment_one_active_per_conversation",
            )
        ]
        indexes = [
            # Offer timeouts: "WHERE status = 'offered' AND offer_expires_at <= now()".
            models.Index(
                fields=["offer_expires_at"],
                condition=Q(status=AssignmentStatus.OFFERED),
                name="assignment_offer_expiry_idx",
            ),
            # An agent's active chats (console, capacity checks, presence re-routing).
            models.Index(
                fields=["agent", "status"],
                condition=Q(status__in=ACTIVE_ASSIGNMENT_STATUSES),
                name="assignment_agent_active_idx",
            ),
            # Decline cool-downs that ended: "WHERE cooldown_until <= now() ORDER BY
            # cooldown_until"; rows leave the index when the router clears them.
            models.Index(
                fields=["cooldown_until"],
                condition=Q(cooldown_until__isnull=False),
                name="assignment_cooldown_idx",
            ),
            models.Index(fields=["conversation", "offered_at"], name="assignment_history_idx"),
            # Per-agent daily metrics: "WHERE company_id = ? AND offered_at BETWEEN ...".
            models.Index(fields=["company", "offered_at"], name="assignment_company_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} → {self.agent_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_ASSIGNMENT_STATUSES


class AssignmentEvent(TenantModel):
    """The audit trail: who did what to which chat, when and why. Append-only."""

    class Action(models.TextChoices):
        QUEUED = "queued", "Queued"
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Offer expired"
        RESOLVED = "resolved", "Resolved"
        ESCALATED = "escalated", "Escalated"
        TRANSFERRED = "transferred", "Transferred"
        REQUEUED = "requeued", "Returned to queue"
        PRIORITY_CHANGED = "priority_changed", "Priority changed"
        SLA_WARNING = "sla_warning", "SLA warning"
        SLA_BREACHED = "sla_breached", "SLA breached"
        ABANDONED = "abandoned", "Abandoned"
        REOPENED = "reopened", "Reopened"
        QUEUE_CHANGED = "queue_changed", "Moved to another queue"
        OVERFLOWED = "overflowed", "Overflowed to another queue"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    assignment = models.ForeignKey(
        ChatAssignment, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    # Null actor: the system (router, SLA timer, presence).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="assignment_event_conv_idx"),
            models.Index(fields=["company", "created_at"], name="assignment_event_company_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.conversation_id}"


class ChatNotification(TenantModel):
    """Unread and urgent counts per recipient, company and client; dismissable."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_notifications"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="notifications")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unread_count = models.PositiveIntegerField(default=0)
    urgent_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_text = models.CharField(max_length=200, blank=True, default="")
    dismissed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_message_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "company", "client"], name="notification_unique_recipient"
            )
        ]
        indexes = [
            # "The caller's notifications": WHERE recipient_id = ? AND dismissed_at IS NULL.
            models.Index(
                fields=["recipient", "-last_message_at"],
                condition=Q(dismissed_at__isnull=True),
                name="notification_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.unread_count} unread from {self.client_id}"


class RoutingPolicy(TenantModel):
    """How a company's chats are routed (one per company)."""

    company = models.OneToOneField(
        "tenancy.Company", on_delete=models.CASCADE, related_name="routing_policy"
    )
    strategy = models.CharField(
        max_length=16, choices=RoutingStrategy.choices, default=RoutingStrategy.ROUND_ROBIN
    )
    offer_timeout_seconds = models.PositiveIntegerField(default=30)
    urgent_keywords = models.JSONField(default=list, blank=True)
    vip_priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.HIGH)
    # After this wait a chat that names a language or skill goes to any eligible agent.
    skill_fallback_seconds = models.PositiveIntegerField(default=120)
    # A waiting chat with no customer message for this long is abandoned (0: never).
    abandon_after_minutes = models.PositiveIntegerField(default=0)
    # A declined chat is not offered to the same agent again for this long (0: no cool-down).
    # db_default: rows written by code that predates the column still get the default.
    decline_cooldown_seconds = models.PositiveIntegerField(default=60, db_default=60)
    # Raised by every write to the company's queues, memberships and queue rules
    # (routing_service/queues): the router reads this row each batch anyway, so comparing it
    # with its cached copy of the queue configuration costs no extra round trip.
    queues_version = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "routing policies"

    def __str__(self) -> str:
        return f"{self.company} routing: {self.strategy}"


class Whisper(TenantModel):
    """A supervisor's private word to the agent handling a chat: shown only in that agent's
    console (and to the supervisors who watch the chat), never sent to the customer."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="whispers"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The agent who held the chat when it was written: the only agent who may read it.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="whispers"
    )
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The live view and the console: "WHERE conversation_id = ? ORDER BY created_at".
            models.Index(fields=["conversation", "created_at"], name="whisper_conversation_idx"),
        ]

    def __str__(self) -> str:
        return f"whisper on {self.conversation_id} to {self.recipient_id}"


# The workspace models (labels, canned responses, client notes) live in their own module.
from routing_service.chats.workspace_models import (  # noqa: E402, F401
    CannedResponse,
    ClientNote,
    ConversationLabel,
    Label,
)
