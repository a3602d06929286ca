"""The PostgreSQL import as workers run it: outside any transaction, so each batch is split
over several connections ("lanes") inserting in parallel. Same report, same rules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from analytics import importer
from analytics.importer import Outcome, run_import
from analytics.models import ChatSession, DataSource
from routing_service.tenancy.models import Company
from tests.analytics.conftest import csv_text
from tests.support.processes import wait_for_other_sessions_to_end

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL lanes"),
]

Upload = Callable[..., DataSource]


@pytest.fixture
def no_mars() -> Iterator[None]:
    """A constraint the parser knows nothing about, so the database refuses some rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE analytics_chatsession "
            "ADD CONSTRAINT test_no_mars CHECK (country <> 'MARS')"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE analytics_chatsession DROP CONSTRAINT test_no_mars")


def ids_and_countries(company: Company) -> dict[str, str]:
    return dict(ChatSession.objects.for_company(company).values_list("session_id", "country"))


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_lanes_keep_the_report_exact(
    upload: Upload, company_a: Company, no_mars: None, lanes: int
) -> None:
    rows: list[dict[str, str]] = []
    for n in range(60):
        rows.append({"session_id": f"S{n % 25}", "country": f"C{n}"})  # 35 repeats
    rows[3]["country"] = "MARS"  # S3's first line refused: its next line (C28) wins
    rows.append({"session_id": "X", "messages_sent": "lots"})
    source = upload(company_a, csv_text(rows))
    assert connection.in_atomic_block is False
    assert run_import(source.pk, batch_rows=7, lanes=lanes).outcome is Outcome.DONE
    source.refresh_from_db()
    assert (source.rows_imported, source.duplicates, source.rows_rejected) == (25, 34, 2)
    assert [(e["line"], e["column"]) for e in source.errors] == [(5, None), (62, "messages_sent")]
    assert "test_no_mars" in source.errors[0]["reason"]
    countries = ids_and_countries(company_a)
    assert countries == {f"S{n}": f"C{n}" for n in range(25)} | {"S3": "C28"}

    again = upload(company_a, csv_text(rows))
    run_import(again.pk, batch_rows=7, lanes=lanes)
    again.refresh_from_db()
    # Every line again, but the refused one (still refused) and the bad one.
    assert (again.rows_imported, again.duplicates, again.rows_rejected) == (0, 59, 2)
    assert len(ids_and_countries(company_a)) == 25


def test_lanes_stop_when_the_source_is_deleted(
    upload: Upload, company_a: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = upload(company_a, csv_text([{"session_id": f"S{n}"} for n in range(10)]))
    write = importer._PostgresWriter.write
    calls = {"n": 0}

    def delete_during_second_batch(self: Any, rows: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            DataSource.objects.filter(pk=source.pk).delete()
        return write(self, rows, *args)

    monkeypatch.setattr(importer._PostgresWriter, "write", delete_during_second_batch)
    assert run_import(source.pk, batch_rows=4, lanes=2).outcome is Outcome.SKIPPED
    assert ChatSession.objects.count() == 0
    # The extra connection was closed (behind PgBouncer: its client connection to it).
    assert wait_for_other_sessions_to_end(timeout=5) == 0
