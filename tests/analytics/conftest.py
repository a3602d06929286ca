"""Analytics fixtures: CSV files in the contract format, uploads stored under a per-test media
root, and one person per role in company A."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analytics import actions
from analytics.csv_parser import COLUMNS
from analytics.models import DataSource
from routing_service.tenancy.models import Company, Role, User

GOOD: dict[str, str] = {
    "session_id": "S1",
    "start_time": "2024-03-01 10:00:00",
    "end_time": "2024-03-01 10:30:00",
    "ip_address": "192.168.1.20",
    "country": "DE",
    "language": "de",
    "messages_sent": "12",
    "sentiment": "Positive",
    "escalated": "no",
    "forwarded_hr": "false",
    "full_transcript": "Agent: Hello, how can I help?",
    "avg_response_time": "4.5",
    "tokens": "1200",
    "tokens_eur": "0.0240",
    "category": "billing",
    "initial_msg": "Hi",
    "user_rating": "4",
}


def csv_text(
    rows: Iterable[Mapping[str, str]],
    columns: Iterable[str] = COLUMNS,
    quoting: int = csv.QUOTE_MINIMAL,
) -> str:
    """A CSV file: the header, then each row (GOOD with its overrides), quoted as needed
    (with "\n" line ends, csv quotes no lone "\r": pass ``csv.QUOTE_ALL`` for those)."""
    columns = list(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=quoting)
    writer.writerow(columns)
    for overrides in rows:
        values = {**GOOD, **overrides}
        writer.writerow([values[c] for c in columns])
    return out.getvalue()


def sessions(*ids: str, **overrides: str) -> list[dict[str, str]]:
    return [{"session_id": session_id, **overrides} for session_id in ids]


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def upload() -> Callable[..., DataSource]:
    """Store a CSV as a pending data source through the same action the API calls."""

    def make(
        company: Company, content: str | bytes, name: str = "sessions.csv", **kwargs: Any
    ) -> DataSource:
        data = content.encode() if isinstance(content, str) else content
        return actions.create_data_source(
            company=company,
            upload=SimpleUploadedFile(name, data, content_type="text/csv"),
            **kwargs,
        )

    return make


@pytest.fixture
def supervisor_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.SUPERVISOR, username="supervisor-a")


@pytest.fixture
def viewer_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.VIEWER, username="viewer-a")


@pytest.fixture
def agent_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.AGENT, username="agent-a")
