"""The demo's chat-session CSV: seeded, in the contract's format, read by the real parser."""

from __future__ import annotations

import datetime as dt
import io

from analytics.csv_parser import RowError, SessionRow, parse_sessions
from analytics.sample_data import SAMPLE_DAYS, profile_for, sample_csv, sample_sessions

TODAY = dt.date(2025, 3, 14)


def test_the_same_seed_and_day_give_the_same_file() -> None:
    one = sample_csv(sample_sessions("acme", TODAY, profile_for("acme"), count=300))
    assert one == sample_csv(sample_sessions("acme", TODAY, profile_for("acme"), count=300))
    assert one != sample_csv(sample_sessions("globex", TODAY, profile_for("acme"), count=300))


def test_the_parser_reads_every_session_and_refuses_the_broken_rows() -> None:
    content = sample_csv(sample_sessions("initech", TODAY, profile_for("initech"), count=500))
    items = list(parse_sessions(io.BytesIO(content)))
    rows = [item for item in items if isinstance(item, SessionRow)]
    errors = [item for item in items if isinstance(item, RowError)]
    assert {error.column for error in errors} == {"sentiment", "end_time"}
    assert len(rows) == 501  # 500 and one repeated id (the importer counts it a duplicate)
    assert len({row.session_id for row in rows}) == 500
    first = dt.datetime.combine(TODAY - dt.timedelta(days=SAMPLE_DAYS), dt.time(), tzinfo=dt.UTC)
    last = dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC)
    assert all(first <= row.start_time < last and row.end_time >= row.start_time for row in rows)
    assert {row.country for row in rows} <= {"DE", "AT", "CH", "NL", "GB"}
    # Documentation addresses only: no real customer's.
    assert all(
        row.ip_address.startswith(("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:"))
        for row in rows
        if row.ip_address
    )
