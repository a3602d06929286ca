"""Dead letters: inbound entries the router gave up on, kept with their error for replay."""

from __future__ import annotations

from django.db import models


class DeadLetter(models.Model):
    """Mirror of an entry in the dead-letter stream, so admins can see and replay it."""

    stream = models.CharField(max_length=200)
    entry_id = models.CharField(max_length=64)
    company = models.ForeignKey(
        "tenancy.Company", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    payload = models.TextField()
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "entry_id"], name="deadletter_unique_entry")
        ]
        indexes = [models.Index(fields=["company", "-created_at"], name="deadletter_company_idx")]

    def __str__(self) -> str:
        return f"{self.stream} {self.entry_id}"
