"""Named queues: who takes which chats, how they are routed, and where they overflow.

A company has several queues (sales, support, a VIP line, one per language); exactly one is its
default, which takes every chat no rule claims. Written only by `routing_service.queues.actions`
(and the data migration that gave every existing company its default queue). The invariants
that must always hold are constraints here; the ones a constraint cannot express (an overflow
chain that never ends, members of another company) are refused by the actions at write time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from routing_service.chats.models import RoutingStrategy
from routing_service.tenancy.managers import TenantModel

if TYPE_CHECKING:
    from routing_service.tenancy.models import User

MIN_SKILL_LEVEL = 1
MAX_SKILL_LEVEL = 10
DEFAULT_SKILL_LEVEL = 5


class AbandonedCountAs(models.TextChoices):
    """How chats abandoned while waiting count in the queue's service level.

    * ``missed``: every abandoned chat counts as offered and not answered in time;
    * ``excluded``: abandoned chats are left out of the service level altogether;
    * ``short_excluded``: chats abandoned within ``short_abandon_seconds`` are left out (the
      customer gave up before anyone could have answered), later ones count as missed.
    """

    MISSED = "missed", _("Counted as missed")
    EXCLUDED = "excluded", _("Excluded")
    SHORT_EXCLUDED = "short_excluded", _("Short abandons excluded")


class Queue(TenantModel):
    """A named queue of one company, with its own people, routing, targets and overflow.

    Fields the live metrics read (`analytics`): ``service_level_seconds`` (answered within this
    many seconds counts as "in service level"), ``service_level_target`` (the fraction 0–1 the
    staffing forecast aims for), ``abandoned_count_as`` and ``short_abandon_seconds`` (see
    `AbandonedCountAs`).

    Null ``strategy`` / ``offer_timeout_seconds`` / ``calendar`` mean "the company's" (its
    RoutingPolicy, and its SLA policies' calendar). SLA targets per priority come from the
    `sla_engine.ChatSLA` rows naming this queue, else the company's rows.

    ``calendar`` holds the ChatSLA calendar fields as plain JSON (``work_start``, ``work_end``,
    ``work_intervals``, ``weekdays``, ``include_weekends``, ``timezone``, ``holiday_country``,
    ``holiday_subdivision``, ``holidays``), validated by `routing_service.queues.rules`.

    ``auto_reply`` is ``{"on_arrival": {"enabled": bool, "templates": {lang: text}},
    "out_of_hours": {...}}``: the messages the customer is sent on arrival and outside business
    hours. This model stores them (validated by `rules.auto_reply_errors`, template variables
    in `auto_reply`); `auto_reply_actions` sends them.
    """

    name = models.CharField(_("name"), max_length=120)
    is_default = models.BooleanField(default=False)
    strategy = models.CharField(
        max_length=16, choices=RoutingStrategy.choices, null=True, blank=True
    )
    offer_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    service_level_seconds = models.PositiveIntegerField(default=20)
    service_level_target = models.FloatField(default=0.8)
    abandoned_count_as = models.CharField(
        max_length=16, choices=AbandonedCountAs.choices, default=AbandonedCountAs.SHORT_EXCLUDED
    )
    short_abandon_seconds = models.PositiveIntegerField(default=5)
    calendar = models.JSONField(null=True, blank=True)
    # Overflow: a chat waiting here longer than `overflow_after_seconds` (null: never by time),
    # or finding no available member when `overflow_when_no_member_available`, moves on.
    overflow_queue = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="overflow_sources",
    )
    overflow_after_seconds = models.PositiveIntegerField(null=True, blank=True)
    overflow_when_no_member_available = models.BooleanField(default=False)
    auto_reply = models.JSONField(default=dict, blank=True)
    members: models.ManyToManyField[User, QueueMembership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="QueueMembership", related_name="queues"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="queue_unique_name"),
            # Exactly one default per company: at most one here, at least one by the actions
            # (created with the company, never deleted, moved only by swapping).
            models.UniqueConstraint(
                fields=["company"], condition=Q(is_default=True), name="queue_one_default"
            ),
            models.CheckConstraint(
                condition=~Q(overflow_queue=F("id")), name="queue_overflow_not_self"
            ),
            models.CheckConstraint(
                condition=Q(service_level_target__gt=0, service_level_target__lte=1),
                name="queue_service_level_target_fraction",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class QueueMembership(TenantModel):
    """An agent or supervisor in a queue; `skill_level` (1–10) breaks routing ties, higher
    first. Same company as the queue, checked by the actions."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_memberships"
    )
    skill_level = models.PositiveSmallIntegerField(default=DEFAULT_SKILL_LEVEL)

    class Meta:
        ordering = ["queue", "-skill_level", "user"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "user"], name="queue_membership_unique"),
            models.CheckConstraint(
                condition=Q(skill_level__gte=MIN_SKILL_LEVEL, skill_level__lte=MAX_SKILL_LEVEL),
                name="queue_membership_skill_1_to_10",
            ),
        ]
        indexes = [
            # "Which queues is this agent in" (router, snapshot): WHERE user_id = ?.
            models.Index(fields=["user"], name="queue_membership_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.queue_id} ({self.skill_level})"


class QueueRule(TenantModel):
    """One line of a company's ordered rule list: an inbound chat matching `match` goes to
    `queue`; the first matching rule (lowest `order`) wins, the default queue otherwise.

    ``match`` (every given key must match; an empty object matches everything):
    ``{"channel": <channel id>, "language": "de", "category": "billing",
    "keywords": ["refund", ...] (any, in the first message, case-insensitive),
    "vip": true|false, "attribute": {"name": "plan", "value": "gold"}}``,
    validated by `routing_service.queues.rules.match_errors`.
    """

    order = models.PositiveIntegerField(default=0)
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="rules")
    match = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        indexes = [
            # The router loads a company's rules in order: WHERE company_id = ? ORDER BY order.
            models.Index(fields=["company", "order", "id"], name="queue_rule_order_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.order} → {self.queue_id}"


class AutoReplyKind(models.TextChoices):
    ON_ARRIVAL = "on_arrival", _("On arrival")
    OUT_OF_HOURS = "out_of_hours", _("Out of hours")


class AutoReplySent(TenantModel):
    """The record that a conversation got its automatic message of one kind.

    The unique (conversation, kind) constraint is what makes it "at most once": the row is
    inserted in the same transaction as the outbound Message, so a retried actor or two
    racing workers cannot both send (`routing_service.queues.auto_reply_actions`).
    """

    conversation = models.ForeignKey(
        "chats.Conversation", on_delete=models.CASCADE, related_name="auto_replies"
    )
    kind = models.CharField(max_length=16, choices=AutoReplyKind.choices)
    # No foreign key in the database (messages are partitioned by month; the ORM still sets
    # null on delete, and dropping a month of messages clears it: retention.partitions).
    message = models.ForeignKey(
        "chats.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "kind"], name="auto_reply_once_per_conversation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.conversation_id}"
