"""The outbox table: events committed with the change that caused them, not yet in the log."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class OutboxEvent(models.Model):
    """One event waiting to be logged and pushed. A row lives for milliseconds: the writer
    publishes and deletes it right after its commit; only a crash or a Redis failure leaves
    it to `events.relay`.

    `company_id` is a plain integer, not a foreign key: this package sits below the tenancy
    models (and an event of a company deleted meanwhile is still delivered, then forgotten).
    The payload is stored as the JSON the log will carry, so the relay publishes the very bytes
    the writer would have.
    """

    id = models.BigAutoField(primary_key=True)
    company_id = models.BigIntegerField()
    # When the row was written (statement time): the relay takes rows older than a short age.
    created_at = models.DateTimeField(db_default=Now())
    event_id = models.CharField(max_length=32)
    type = models.CharField(max_length=64)
    at = models.CharField(max_length=40)  # the envelope's ISO time, as sent
    groups = models.TextField()  # channel-layer group names, space-separated
    data = models.TextField()  # the payload, JSON-encoded

    class Meta:
        db_table = "events_outbox"
        indexes = [
            # Publishers lock a company's rows up to an id, in id order: (company_id, id <= n).
            models.Index(fields=["company_id", "id"], name="events_outbox_company_id"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk} (company {self.company_id})"
