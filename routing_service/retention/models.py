"""Per-company retention settings and the audit trail of erasures.

A company without a `RetentionPolicy` row keeps its history for the defaults below
(`RETENTION_DEFAULT_*` settings override them): generous, because dropping history is the one
thing that cannot be undone.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from routing_service.tenancy.managers import TenantModel

MIN_DAYS = 1
MAX_DAYS = 3650  # ten years: beyond that a typo ("36500") is likelier than a wish

_DAYS = [MinValueValidator(MIN_DAYS), MaxValueValidator(MAX_DAYS)]


def default_days(kind: str) -> int:
    """The retention of a company without a policy row, in days (settings may change it)."""
    defaults = {"messages": 730, "events": 730, "sessions": 1095}
    return int(getattr(settings, f"RETENTION_DEFAULT_{kind.upper()}_DAYS", defaults[kind]))


class RetentionPolicy(TenantModel):
    """How long a company keeps its history, per kind of row, in days."""

    company = models.OneToOneField(
        "tenancy.Company", on_delete=models.CASCADE, related_name="retention_policy"
    )
    messages_days = models.PositiveIntegerField(
        default=730,
        validators=_DAYS,
        help_text=_("Messages (and their attachments) of chats older than this are deleted."),
    )
    events_days = models.PositiveIntegerField(
        default=730,
        validators=_DAYS,
        help_text=_("Assignment events and settled SLA timers older than this are deleted."),
    )
    sessions_days = models.PositiveIntegerField(
        default=1095,
        validators=_DAYS,
        help_text=_("Imported and live chat sessions that started before this are deleted."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")

    def __str__(self) -> str:
        return f"retention of company {self.company_id}"


class ErasureRecord(TenantModel):
    """That a customer's personal data was erased, when and by whom — nothing about them.

    `client_ref` is the erased Client row's primary key: meaningless without the row, which now
    holds no personal data, yet enough to answer "was the request of ticket X carried out".
    """

    client_ref = models.BigIntegerField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    erased_at = models.DateTimeField(auto_now_add=True)
    # Row and key counts per table / store ("messages": 12, "redis_log_entries": 3...).
    counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-erased_at"]
        indexes = [models.Index(fields=["company", "-erased_at"], name="erasure_company_idx")]

    def __str__(self) -> str:
        return f"erasure of client {self.client_ref} at {self.erased_at:%Y-%m-%d %H:%M}"
