"""Analytics: imported and live chat sessions, dashboards and daily roll-ups."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from routing_service.tenancy.managers import TenantModel


class Sentiment(models.TextChoices):
    POSITIVE = "Positive", _("Positive")
    NEUTRAL = "Neutral", _("Neutral")
    NEGATIVE = "Negative", _("Negative")


class DataSource(TenantModel):
    """An uploaded CSV of chat sessions (or the live feed), with its import report."""

    class Kind(models.TextChoices):
        CSV = "csv", _("CSV upload")
        LIVE = "live", _("Live conversations")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CSV)
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    bytes_total = models.BigIntegerField(default=0)
    bytes_processed = models.BigIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    # [{line, column, reason}], capped so a hopeless file cannot bloat the row.
    errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="", help_text="Why the whole import failed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written with every progress update: an import whose heartbeat stops was abandoned by a
    # dead worker and may be restarted (see analytics/importer.py).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The live feed is created on demand by concurrent workers: one per company.
            models.UniqueConstraint(
                fields=["company"], condition=Q(kind="live"), name="datasource_one_live_feed"
            ),
        ]
        indexes = [models.Index(fields=["company", "-created_at"], name="datasource_company_idx")]

    def __str__(self) -> str:
        return self.name


class ChatSession(TenantModel):
    """One chat session, imported from CSV or made from a resolved live conversation."""

    # No index of its own: session_source_start_idx below starts with it (an import writes
    # every index once per row, so a redundant one costs throughput).
    data_source = models.ForeignKey(
        DataSource,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sessions",
        db_index=False,
    )
    conversation = models.OneToOneField(
        "chats.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="session",
    )
    session_id = models.CharField(max_length=255)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    country = models.CharField(max_length=64, blank=True, default="")
    language = models.CharField(max_length=16, blank=True, default="")
    messages_sent = models.PositiveIntegerField(default=0)
    sentiment = models.CharField(max_length=8, choices=Sentiment.choices, blank=True, default="")
    escalated = models.BooleanField(default=False)
    forwarded_hr = models.BooleanField(default=False)
    full_transcript = models.TextField(blank=True, default="")
    avg_response_time = models.FloatField(null=True, blank=True, help_text="Seconds.")
    tokens = models.PositiveBigIntegerField(default=0)
    tokens_eur = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    category = models.CharField(max_length=64, blank=True, default="")
    initial_msg = models.TextField(blank=True, default="")
    user_rating = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-start_time"]
        constraints = [
            # Re-importing the same file does not duplicate sessions.
            models.UniqueConstraint(fields=["company", "session_id"], name="session_unique_id"),
        ]
        indexes = [
            # Dashboards and search by date: "WHERE company_id = ? AND start_time BETWEEN ...".
            # On PostgreSQL migration 0005 rebuilds it carrying the search filters' columns
            # (INCLUDE).
            models.Index(fields=["company", "start_time"], name="session_company_start_idx"),
            # Per-source aggregates, "WHERE data_source_id IN (...) AND start_time ...", and
            # the data source foreign key. On PostgreSQL it is migration 0005's covering
            # index of that name; migration 0007 declares it here for every database.
            models.Index(fields=["data_source", "start_time"], name="session_source_start_idx"),
        ]

    def __str__(self) -> str:
        return self.session_id


class Dashboard(TenantModel):
    """A saved view over some data sources and a date range."""

    name = models.CharField(max_length=200)
    data_sources = models.ManyToManyField(DataSource, blank=True, related_name="dashboards")
    include_live = models.BooleanField(default=True)
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    # When no explicit dates are set: the last N days.
    last_days = models.PositiveIntegerField(default=30)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChatResponseTracking(TenantModel):
    """Daily metrics per company (agent null) and per agent, filled by a roll-up job."""

    # The figures of a day, in the order the API and the CSV export show them.
    FIGURES = (
        "chats",
        "resolved",
        "abandoned",
        "escalations",
        "first_response_median_seconds",
        "first_response_p90_seconds",
        "resolution_median_seconds",
        "sla_met",
        "sla_missed",
        "sla_compliance_rate",
        "csat_responses",
        "csat_average",
        "csat_satisfied_rate",
    )

    date = models.DateField()
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    chats = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    escalations = models.PositiveIntegerField(default=0)
    first_response_median_seconds = models.FloatField(null=True, blank=True)
    first_response_p90_seconds = models.FloatField(null=True, blank=True)
    resolution_median_seconds = models.FloatField(null=True, blank=True)
    sla_met = models.PositiveIntegerField(default=0)
    sla_missed = models.PositiveIntegerField(default=0)
    sla_compliance_rate = models.FloatField(null=True, blank=True, help_text="0..1")
    # Satisfaction surveys answered (chats/csat.py): count, mean rating 1-5, share rated 4-5.
    csat_responses = models.PositiveIntegerField(default=0)
    csat_average = models.FloatField(null=True, blank=True, help_text="1..5")
    csat_satisfied_rate = models.FloatField(null=True, blank=True, help_text="0..1")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "chat response tracking"
        verbose_name_plural = "chat response tracking"
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "date"],
                condition=Q(agent__isnull=True),
                name="tracking_unique_company_day",
            ),
            models.UniqueConstraint(
                fields=["company", "date", "agent"],
                condition=Q(agent__isnull=False),
                name="tracking_unique_agent_day",
            ),
        ]
        indexes = [models.Index(fields=["company", "date"], name="tracking_company_date_idx")]

    def __str__(self) -> str:
        return f"{self.company_id} {self.date} agent={self.agent_id}"


# --- daily roll-ups of imported sessions (analytics/rollups.py) -------------------------------
# A finished CSV import never changes, so its sessions are summed per day once, and dashboards
# read a few thousand roll-up rows instead of counting up to millions of sessions per view.


class SessionRollup(TenantModel):
    """Marks a data source's daily roll-up as built, for the import state in ``stamp``."""

    data_source = models.OneToOneField(DataSource, on_delete=models.CASCADE, related_name="rollup")
    # The source's status, row count and finish time when it was rolled up: any change means
    # the roll-up is stale and is rebuilt.
    stamp = models.CharField(max_length=120)
    sessions = models.PositiveIntegerField(default=0)
    built_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"roll-up of {self.data_source_id} ({self.stamp})"


class SessionDayTotal(TenantModel):
    """One data source's sessions of one (UTC) day, summed: what the dashboards' series show."""

    data_source = models.ForeignKey(
        DataSource, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    sessions = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    forwarded_hr = models.PositiveIntegerField(default=0)
    response_sum = models.FloatField(default=0)
    response_count = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=4, default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    rating_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the dashboards' index: "WHERE data_source_id IN (...) AND day BETWEEN ...".
            models.UniqueConstraint(fields=["data_source", "day"], name="session_day_total_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.data_source_id} {self.day}: {self.sessions}"


class SessionDayCount(TenantModel):
    """Sessions of one data source and day per value of one dimension (category, country,
    language, sentiment, rating): the dashboards' breakdowns and sentiment series."""

    class Dimension(models.TextChoices):
        CATEGORY = "category", "Category"
        COUNTRY = "country", "Country"
        LANGUAGE = "language", "Language"
        SENTIMENT = "sentiment", "Sentiment"
        RATING = "rating", "Rating"

    data_source = models.ForeignKey(
        DataSource, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField()
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    value = models.CharField(max_length=64, blank=True, default="")
    sessions = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the breakdowns' index: "WHERE data_source_id IN (...) AND dimension = ?
            # AND day BETWEEN ... GROUP BY value".
            models.UniqueConstraint(
                fields=["data_source", "dimension", "day", "value"],
                name="session_day_count_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.data_source_id} {self.day} {self.dimension}={self.value}: {self.sessions}"


class QueueInterval(TenantModel):
    """A queue's 15-minute interval (``queue`` null: the whole company), written by the
    interval roll-up (analytics.queue_history) from the chats, kept ``RETENTION_DAYS``.

    The sums, not the ratios, are stored so that any range (an hour, a day, a month) adds up
    exactly: service level = answered_in_time / (answered + abandoned_counted), ASA =
    wait_ms / answered, AHT = handle_ms / handled.
    """

    RETENTION_DAYS = 400  # 13 months and then some

    queue = models.ForeignKey(
        "queues.Queue", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    start = models.DateTimeField()
    offered = models.PositiveIntegerField(default=0)
    answered = models.PositiveIntegerField(default=0)
    answered_in_time = models.PositiveIntegerField(default=0)
    wait_ms = models.BigIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    abandoned_counted = models.PositiveIntegerField(default=0)
    handled = models.PositiveIntegerField(default=0)
    handle_ms = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One row per queue (or company total) and interval; NULL queue is one value here.
            models.UniqueConstraint(
                fields=["company", "queue", "start"],
                name="queue_interval_unique",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            # "WHERE company_id = ? AND queue_id = ? AND start BETWEEN ..." (the API, the CSV),
            # served by the unique constraint's index; retention: "WHERE start < ?".
            models.Index(fields=["start"], name="queue_interval_start_idx"),
        ]
