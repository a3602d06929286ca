"""SLA policies: targets per company and priority, on a business calendar."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models

from routing_service.chats.models import Priority
from routing_service.tenancy.managers import TenantModel


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
    `work_intervals` (e.g. [["09:00", "12:00"], ["13:00", "17:00"]]; an interval whose end is
    not after its start runs overnight) overrides `work_start`/`work_end` when given.
    """

    priority = models.CharField(max_length=8, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    warning_percent = models.PositiveSmallIntegerField(default=80)
    work_start = models.TimeField(default=dt.time(9, 0))
    work_end = models.TimeField(default=dt.time(17, 0))
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
            models.UniqueConstraint(fields=["company", "priority"], name="chatsla_unique_priority"),
            models.CheckConstraint(
                condition=models.Q(warning_percent__gte=1, warning_percent__lte=100),
                name="chatsla_warning_percent_range",
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
