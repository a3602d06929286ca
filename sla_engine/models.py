"""SLA policies: targets per company and priority, on a business calendar."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models

from routing_service.chats.models import Conversation, Priority
from routing_service.tenancy.managers import TenantModel
from sla_engine.ladder import ladder_errors


def default_weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


def default_escalation_ladder() -> list[dict[str, object]]:
    return [
        {"after_minutes": 0, "action": "notify_supervisors"},
        {"after_minutes": 15, "action": "raise_priority"},
        {"after_minutes": 30, "action": "reassign", "to": "supervisor"},
    ]


class ChatSLA(TenantModel):
    """Response and resolution targets for one priority of one company.

    Targets are business minutes on the calendar described by the working-hours fields;
    `work_intervals` (e.g. [["09:00", "12:00"], ["13:00", "24:00"]]; an interval whose end is
    not after its start runs overnight; "24:00" ends the day) overrides
    `work_start`/`work_end` when given.
    """

    priority = models.CharField(max_length=8, choices=Priority.choices)
    # Null: the company's policy. A queue's own policy for a priority wins over the company's
    # for chats in that queue (routing_service/queues).
    queue = models.ForeignKey(
        "queues.Queue", on_delete=models.CASCADE, null=True, blank=True, related_name="sla_policies"
    )
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    warning_percent = models.PositiveSmallIntegerField(default=80)
    work_start = models.TimeField(default=dt.time(9, 0))
    work_end = models.TimeField(default=dt.time(17, 0))
    # `work_end` was given as 24:00, which a `time` cannot hold: it is stored as 00:00 (the
    # calendar reads an end at or before the start as "past midnight", so the two are the same
    # instant) and this flag makes the API answer "24:00" back as it was written.
    work_end_is_end_of_day = models.BooleanField(
        "work end is 24:00", default=False, db_default=False
    )
    work_intervals = models.JSONField(default=list, blank=True)
    weekdays = models.JSONField(default=default_weekdays, blank=True)
    include_weekends = models.BooleanField(default=False)
    timezone = models.CharField(max_length=64, default="UTC")
    holiday_country = models.CharField(max_length=8, blank=True, default="")
    holiday_subdivision = models.CharField(max_length=16, blank=True, default="")
    holidays = models.JSONField(default=list, blank=True, help_text="Extra dates, YYYY-MM-DD.")
    # Pause rule: time while the chat waits on the customer does not count towards resolution.
    pause_while_waiting_on_customer = models.BooleanField(default=False)
    escalation_ladder = models.JSONField(default=default_escalation_ladder, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "chat SLA"
        verbose_name_plural = "chat SLAs"
        ordering = ["company", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "priority"],
                condition=models.Q(queue__isnull=True),
                name="chatsla_unique_priority",
            ),
            models.UniqueConstraint(
                fields=["queue", "priority"],
                condition=models.Q(queue__isnull=False),
                name="chatsla_unique_queue_priority",
            ),
            models.CheckConstraint(
                condition=models.Q(warning_percent__gte=1, warning_percent__lte=100),
                name="chatsla_warning_percent_range",
            ),
            models.CheckConstraint(
                condition=models.Q(work_end_is_end_of_day=False) | models.Q(work_end=dt.time(0)),
                name="chatsla_end_of_day_is_midnight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company} {self.priority}"

    def clean(self) -> None:
        first, resolution = self.first_response_minutes, self.resolution_minutes
        if first is not None and resolution is not None and resolution < first:
            raise ValidationError(
                {"resolution_minutes": "Must not be shorter than the first-response target."}
            )
        ladder = ladder_errors(self.escalation_ladder)
        if ladder:
            raise ValidationError({"escalation_ladder": ladder})
        if self.work_end_is_end_of_day and self.work_end != dt.time(0):
            raise ValidationError({"work_end": "Must be 00:00 when the day ends at 24:00."})


class TimerKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    RESOLUTION = "resolution", "Resolution"


class Stage:
    """`SlaTimer.stage`: 0 the warning, 1 the breach, 2 + n step n of the escalation ladder."""

    WARNING = 0
    BREACH = 1
    FIRST_STEP = 2

    @staticmethod
    def label(stage: int) -> str:
        if stage == Stage.WARNING:
            return "warning"
        if stage == Stage.BREACH:
            return "breach"
        return f"escalation {stage - Stage.FIRST_STEP + 1}"


class SlaTimer(TenantModel):
    """One deadline of one chat: a warning, a breach or an escalation step, fired once.

    The table is the timer's record (DESIGN.md "sla timer"): a restart loses nothing, and
    several `run_sla_timer` processes share it. A row is pending while `fired_at` is null;
    it is settled by firing (`fired_at` set) or by being dropped as obsolete (`fired_at` set
    and `cancelled` true: the first response came, the chat closed, the clock is paused...).
    `sla_engine.scheduler.schedule_timers` writes warning and breach rows whenever due times
    are set or change; the breach, when it fires, adds the ladder's steps.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=16, choices=TimerKind.choices)
    stage = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    cancelled = models.BooleanField(default=False)
    # Escalation stages: the ladder step in force when the breach fired.
    step = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            # A stage fires once per chat and kind, whatever the number of timers running.
            models.UniqueConstraint(
                fields=["conversation", "kind", "stage"], name="sla_timer_unique_stage"
            ),
        ]
        indexes = [
            # The timer's wake-up, "WHERE fired_at IS NULL ORDER BY due_at LIMIT 1", and its
            # claim, "WHERE fired_at IS NULL AND due_at <= now ORDER BY due_at LIMIT n
            # FOR UPDATE SKIP LOCKED": settled rows leave the index, so a tick costs
            # O(log n + due) however many chats are open or were ever opened.
            models.Index(
                fields=["due_at"],
                condition=models.Q(fired_at__isnull=True),
                name="sla_timer_pending_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.kind} {Stage.label(self.stage)} @ {self.due_at}"


class SlaPause(TenantModel):
    """A stretch of time the chat waited on the customer (agent spoke last, customer answered).

    Recorded only under a policy with `pause_while_waiting_on_customer`; the resolution due
    time is the target plus the business minutes of these pauses (see `deadlines`).
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()

    class Meta:
        ordering = ["started_at"]
        constraints = [
            # Also the lookup "WHERE conversation_id = ? ORDER BY started_at".
            models.UniqueConstraint(
                fields=["conversation", "started_at"], name="sla_pause_unique_start"
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__gt=models.F("started_at")),
                name="sla_pause_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} paused {self.started_at} → {self.ended_at}"
