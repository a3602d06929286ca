"""Demo analytics for ``manage.py create_sample_data``: a CSV of chat sessions and dashboards.

The sessions are made the way a customer's would be: a CSV file in the contract's format
(DESIGN.md "CSV format"), uploaded through ``analytics.actions.create_data_source`` and imported
by the worker's own actor, ``analytics.tasks.import_data_source`` (called in-process, so the
import and its daily roll-up are done when the command ends; the message the upload enqueued
finds the source done and does nothing). The dashboards are saved through
``analytics.dashboard_actions.save_dashboard``.

``sample_sessions`` is pure and seeded: the same seed and day give the same file, byte for
byte. Its sessions fall on the ``SAMPLE_DAYS`` whole UTC days before ``today``, so a rerun on
the same day finds the same rows; every session is made up, with addresses from the
documentation ranges (RFC 5737, RFC 3849). Three rows are broken on purpose (an unknown
sentiment, an end before the start, a repeated session id), so the import report has errors
and a duplicate to show.

Idempotent: a company that already has the sample data source, or a dashboard of a given name,
keeps it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from analytics import live, tasks
from analytics.actions import create_data_source
from analytics.csv_parser import COLUMNS
from analytics.dashboard_actions import save_dashboard
from analytics.models import Dashboard, DataSource
from routing_service.tenancy.models import Company, User

__all__ = [
    "SAMPLE_DAYS",
    "SAMPLE_SESSIONS",
    "SAMPLE_SOURCE_NAME",
    "Profile",
    "ensure_dashboards",
    "load_sample_sessions",
    "profile_for",
    "sample_csv",
    "sample_sessions",
]

SAMPLE_SOURCE_NAME: Final = "Sample chat sessions"
SAMPLE_FILE_NAME: Final = "sample-chat-sessions.csv"
SAMPLE_SESSIONS: Final = 2400  # per company: ~40 a day
SAMPLE_DAYS: Final = 60
# Price of the assistant's tokens, EUR per token (about 2 cents per thousand).
EUR_PER_TOKEN: Final = Decimal("0.00002")
# Weekends are quieter: relative weight of a Saturday or Sunday.
WEEKEND_WEIGHT: Final = 0.45
# Relative arrivals per UTC hour (a business day with a lunch peak and a quiet night).
HOURLY: Final = (
    1, 1, 1, 1, 1, 2, 3, 6, 9, 11, 12, 12, 10, 11, 12, 11, 10, 8, 6, 5, 4, 3, 2, 1,
)  # fmt: skip
RATINGS: Final = ((1, 5), (2, 8), (3, 15), (4, 32), (5, 40))
UNRATED_SHARE: Final = 0.35


@dataclass(frozen=True, slots=True)
class Topic:
    category: str
    language: str
    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Profile:
    """What one company's customers look like: where they write from, about what."""

    countries: tuple[tuple[str, int], ...]  # (ISO code, weight)
    topics: tuple[Topic, ...]


_RETAIL = Profile(
    countries=(("GB", 50), ("IE", 10), ("FR", 12), ("DE", 10), ("US", 12), ("ES", 6)),
    topics=(
        Topic("orders", "en", "Where is my order? It was due yesterday.",
              "It left our warehouse this morning; here is the tracking link."),
        Topic("orders", "en", "Can I change the delivery address of my order?",
              "Yes, I have updated the address; the courier has the new one."),
        Topic("returns", "en", "How do I return a jacket that doesn't fit?",
              "Print the prepaid label from your account and drop it at any post office."),
        Topic("returns", "fr", "Bonjour, comment retourner un article ?",
              "Vous pouvez imprimer l'étiquette prépayée depuis votre compte."),
        Topic("billing", "en", "I was charged twice for the same order.",
              "I can see the duplicate payment and have refunded it."),
        Topic("billing", "de", "Ich habe eine falsche Rechnung bekommen.",
              "Ich habe die Rechnung korrigiert und Ihnen neu geschickt."),
        Topic("product", "en", "Is this kettle compatible with UK plugs?",
              "Yes, it ships with a UK plug."),
    ),
)  # fmt: skip
_TELECOM = Profile(
    countries=(("US", 70), ("CA", 15), ("MX", 10), ("GB", 5)),
    topics=(
        Topic("billing", "en", "My bill is higher than usual this month.",
              "It includes roaming charges from your trip; here is the breakdown."),
        Topic("network", "en", "I have no signal at home since yesterday.",
              "There was a mast outage in your area; it has been fixed."),
        Topic("roaming", "en", "Does my plan work in Mexico?",
              "Yes, North America roaming is included in your plan."),
        Topic("roaming", "es", "¿Mi plan funciona en Estados Unidos?",
              "Sí, el roaming en Norteamérica está incluido."),
        Topic("upgrades", "en", "Am I eligible for a phone upgrade?",
              "Yes, from next month; I have added a reminder to your account."),
        Topic("technical", "en", "Voicemail stopped working on my phone.",
              "I have reset your voicemail box; please set a new PIN."),
    ),
)  # fmt: skip
_BANK = Profile(
    countries=(("DE", 60), ("AT", 15), ("CH", 10), ("NL", 10), ("GB", 5)),
    topics=(
        Topic("cards", "de", "Meine Karte wurde im Automaten eingezogen.",
              "Ich habe die Karte gesperrt und eine neue bestellt."),
        Topic("cards", "en", "My card was declined abroad.",
              "Your card was limited to Europe; I have enabled worldwide use."),
        Topic("transfers", "de", "Meine Überweisung ist nicht angekommen.",
              "Die Überweisung wurde heute ausgeführt."),
        Topic("login", "en", "I can't log in to online banking.",
              "Your access was locked after three attempts; I have unlocked it."),
        Topic("fraud", "en", "There is a payment on my account I don't recognise.",
              "I have blocked the card and opened a dispute for that payment."),
        Topic("loans", "de", "Wie hoch wären die Raten für einen Kredit über 10.000 €?",
              "Bei 48 Monaten Laufzeit etwa 230 € im Monat; ich schicke Ihnen ein Angebot."),
    ),
)  # fmt: skip
PROFILES: Final = {"acme": _RETAIL, "globex": _TELECOM, "initech": _BANK}


def profile_for(slug: str) -> Profile:
    """The demo company's profile (any other company looks like the retailer)."""
    return PROFILES.get(slug, _RETAIL)


# --- the file (pure) -------------------------------------------------------------------------


def _address(rng: random.Random) -> str:
    """A documentation address (RFC 5737 / RFC 3849): never a real customer's."""
    if rng.random() < 0.1:
        return f"2001:db8::{rng.randrange(1, 0xFFFF):x}"
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{net}.{rng.randrange(1, 255)}"


def _rating(rng: random.Random, escalated: bool) -> int | None:
    if rng.random() < UNRATED_SHARE:
        return None
    values, weights = zip(*RATINGS, strict=True)
    rating = rng.choices(values, weights)[0]
    return max(1, rating - 2) if escalated and rng.random() < 0.6 else rating


def _sentiment(rng: random.Random, rating: int | None) -> str:
    if rating is None:
        return rng.choices(("Positive", "Neutral", "Negative"), (45, 40, 15))[0]
    if rating >= 4:
        return "Positive" if rng.random() < 0.85 else "Neutral"
    if rating == 3:
        return "Neutral"
    return "Negative" if rng.random() < 0.8 else "Neutral"


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")  # naive: UTC, as the importer reads it


def sample_sessions(
    seed: str,
    today: dt.date,
    profile: Profile,
    *,
    count: int = SAMPLE_SESSIONS,
    days: int = SAMPLE_DAYS,
    prefix: str = "sample",
) -> list[dict[str, str]]:
    """``count`` sessions on the ``days`` whole UTC days before ``today``, as CSV fields.

    Weekdays are busier than weekends and afternoons than nights; escalated chats are rated
    lower; sentiment follows the rating. Ids are ``<prefix>-00001`` … in time order.
    """
    rng = random.Random(f"{seed}:{today.isoformat()}")  # str seeds hash with SHA-512: stable
    first = today - dt.timedelta(days=days)
    calendar = [first + dt.timedelta(days=n) for n in range(days)]
    day_weights = [WEEKEND_WEIGHT if day.weekday() >= 5 else 1.0 for day in calendar]
    countries, country_weights = zip(*profile.countries, strict=True)
    starts = sorted(
        dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
        + dt.timedelta(seconds=rng.randrange(3600))
        for day, hour in zip(
            rng.choices(calendar, day_weights, k=count),
            rng.choices(range(24), HOURLY, k=count),
            strict=True,
        )
    )
    rows = []
    for number, start in enumerate(starts, start=1):
        topic = rng.choice(profile.topics)
        escalated = rng.random() < 0.08
        rating = _rating(rng, escalated)
        exchanges = rng.randint(1, 6)
        response = round(rng.uniform(1.2, 9.0) * (2.5 if escalated else 1.0), 1)
        tokens = rng.randint(250, 900) * exchanges
        lines = [f"Customer: {topic.question}", f"Assistant: {topic.answer}"]
        if exchanges > 1:
            lines += ["Customer: Thanks, that helps.", "Assistant: Happy to help!"]
        if escalated:
            lines.append("Assistant: I am passing you to a colleague who can decide this.")
        rows.append(
            {
                "session_id": f"{prefix}-{number:05d}",
                "start_time": _stamp(start),
                "end_time": _stamp(start + dt.timedelta(seconds=rng.randint(90, 2400))),
                "ip_address": _address(rng),
                "country": rng.choices(countries, country_weights)[0],
                "language": topic.language,
                "messages_sent": str(2 * exchanges + (1 if escalated else 0)),
                "sentiment": _sentiment(rng, rating),
                "escalated": "yes" if escalated else "no",
                "forwarded_hr": "yes" if escalated and rng.random() < 0.25 else "no",
                "full_transcript": "\n".join(lines),
                "avg_response_time": f"{response}",
                "tokens": str(tokens),
                "tokens_eur": f"{(tokens * EUR_PER_TOKEN).quantize(Decimal('0.0001'))}",
                "category": topic.category,
                "initial_msg": topic.question,
                "user_rating": "" if rating is None else str(rating),
            }
        )
    return rows + _broken_rows(rows)


def _broken_rows(rows: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Three rows the importer must refuse or skip, for the import report to show."""
    if len(rows) < 3:
        return []
    return [
        {**rows[0], "session_id": f"{rows[0]['session_id']}-x", "sentiment": "Happy"},
        {**rows[1], "session_id": f"{rows[1]['session_id']}-x", "end_time": "2000-01-01"},
        dict(rows[2]),  # the same session id again: a duplicate, not a second session
    ]


def sample_csv(rows: Sequence[dict[str, str]]) -> bytes:
    """The rows as a UTF-8 CSV file with the contract's header."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


# --- the database ----------------------------------------------------------------------------


def load_sample_sessions(
    company: Company, *, today: dt.date, created_by: User | None = None
) -> DataSource:
    """The company's sample data source, uploaded and imported now if it is not there yet.

    A source left ``pending`` or ``importing`` by an interrupted run is imported again
    (``run_import`` takes over an abandoned import).
    """
    source = (
        DataSource.objects.for_company(company)
        .filter(kind=DataSource.Kind.CSV, name=SAMPLE_SOURCE_NAME)
        .order_by("pk")
        .first()
    )
    if source is None:
        content = sample_csv(
            sample_sessions(company.slug, today, profile_for(company.slug), prefix=company.slug)
        )
        source = create_data_source(
            company=company,
            upload=SimpleUploadedFile(SAMPLE_FILE_NAME, content, content_type="text/csv"),
            name=SAMPLE_SOURCE_NAME,
            created_by=created_by,
        )
    if source.status not in (DataSource.Status.DONE, DataSource.Status.FAILED):
        # What the worker runs for the message the upload enqueued: import, then roll up.
        tasks.import_data_source(source.pk)
        source.refresh_from_db()
    return source


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    name: str
    sources: str  # "sample", "live" or "all"
    last_days: int


DEFAULT_DASHBOARDS: Final = (
    DashboardSpec("All chats, last 90 days", "all", 90),
    DashboardSpec("Imported sessions, last 60 days", "sample", 60),
    DashboardSpec("Live chats, last 30 days", "live", 30),
)


@transaction.atomic
def ensure_dashboards(
    company: Company, sample: DataSource, *, created_by: User | None = None
) -> list[Dashboard]:
    """The default dashboards; one whose name exists already is left as it is."""
    existing = {d.name: d for d in Dashboard.objects.for_company(company)}
    dashboards = []
    for spec in DEFAULT_DASHBOARDS:
        dashboard = existing.get(spec.name)
        if dashboard is None:
            sources = {"all": [], "sample": [sample], "live": [live.live_feed(company.pk)]}
            dashboard = save_dashboard(
                company=company,
                name=spec.name,
                data_sources=sources[spec.sources],
                include_live=spec.sources != "sample",
                date_from=None,
                date_to=None,
                last_days=spec.last_days,
                created_by=created_by,
            )
        dashboards.append(dashboard)
    return dashboards
