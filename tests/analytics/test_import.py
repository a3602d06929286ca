"""CSV imports (analytics.importer through the actor's function): the report, duplicates,
encodings, batches, fatal errors, and the actor's idempotence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from analytics import importer
from analytics.importer import Outcome, run_import
from analytics.models import ChatSession, DataSource
from analytics.tasks import import_data_source
from routing_service.tenancy.models import Company
from tests.analytics.conftest import csv_text, sessions

pytestmark = pytest.mark.django_db

Upload = Callable[..., DataSource]

UNCLOSED = (
    ",".join(
        [
            "S9",
            "2024-03-01 10:00:00",
            "2024-03-01 10:30:00",
            "",
            "DE",
            "de",
            "1",
            "",
            "no",
            "no",
            '"Agent: hello, this quote never closes',
            "",
            "",
            "",
            "",
            "Hi",
            "",
        ]
    )
    + "\n"
)


def imported(source: DataSource) -> DataSource:
    import_data_source.fn(source.pk)
    source.refresh_from_db()
    return source


def session_ids(company: Company) -> list[str]:
    return sorted(ChatSession.objects.for_company(company).values_list("session_id", flat=True))


def test_report_names_every_bad_row_by_line_column_and_reason(
    upload: Upload, company_a: Company
) -> None:
    text = csv_text(
        [
            {"session_id": "S1"},
            {"session_id": "S2", "start_time": "yesterday"},
            {"session_id": "S3", "end_time": "2024-03-01 09:00:00"},
            {"session_id": "S4", "messages_sent": "twelve"},
            {"session_id": "S5", "sentiment": "Angry"},
            {"session_id": "S6", "escalated": "maybe"},
            {"session_id": "S7", "full_transcript": "x" * 131_073},
            {"session_id": "S8", "full_transcript": "Hello, " + "y" * 131_073},
        ]
    )
    text += UNCLOSED + csv_text([{"session_id": "S10"}]).split("\n", 1)[1]
    source = imported(upload(company_a, text))

    assert source.status == DataSource.Status.DONE
    assert source.error == ""
    assert (source.rows_imported, source.rows_rejected, source.duplicates) == (2, 8, 0)
    assert source.errors == [
        {
            "line": 3,
            "column": "start_time",
            "reason": "not a date-time (ISO 8601 or YYYY-MM-DD HH:MM:SS): 'yesterday'",
        },
        {"line": 4, "column": "end_time", "reason": "is before start_time: '2024-03-01 09:00:00'"},
        {"line": 5, "column": "messages_sent", "reason": "not a whole number: 'twelve'"},
        {"line": 6, "column": "sentiment", "reason": "not Positive, Neutral or Negative: 'Angry'"},
        {
            "line": 7,
            "column": "escalated",
            "reason": "not a yes/no value (true/false, yes/no, y/n, 1/0): 'maybe'",
        },
        {"line": 8, "column": None, "reason": "a field is longer than 131072 characters"},
        {"line": 9, "column": None, "reason": "a field is longer than 131072 characters"},
        {
            "line": 10,
            "column": None,
            "reason": "unclosed quote: the quoted field opened here runs into line 11",
        },
    ]
    assert session_ids(company_a) == ["S1", "S10"]
    assert source.bytes_processed == source.bytes_total == len(text.encode())
    assert source.started_at is not None and source.finished_at is not None


def test_good_rows_are_stored_with_every_column(upload: Upload, company_a: Company) -> None:
    text = csv_text([{"session_id": "S1", "sentiment": "negative", "escalated": "yes"}])
    source = imported(upload(company_a, text))
    session = ChatSession.objects.for_company(company_a).get()
    assert session.data_source_id == source.pk
    assert session.start_time == dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    assert session.end_time == dt.datetime(2024, 3, 1, 10, 30, tzinfo=dt.UTC)
    assert (session.ip_address, session.country, session.language) == ("192.168.1.20", "DE", "de")
    assert (session.messages_sent, session.sentiment) == (12, "Negative")
    assert (session.escalated, session.forwarded_hr) == (True, False)
    assert session.full_transcript == "Agent: Hello, how can I help?"
    assert session.avg_response_time == 4.5
    assert (session.tokens, str(session.tokens_eur)) == (1200, "0.0240")
    assert (session.category, session.initial_msg, session.user_rating) == ("billing", "Hi", 4)


def test_blank_optional_cells_are_stored_as_blanks(upload: Upload, company_a: Company) -> None:
    blanks = dict.fromkeys(
        ["ip_address", "sentiment", "avg_response_time", "tokens", "tokens_eur", "user_rating"], ""
    )
    imported(upload(company_a, csv_text([{"session_id": "S1", **blanks}])))
    session = ChatSession.objects.for_company(company_a).get()
    assert (session.ip_address, session.sentiment, session.avg_response_time) == (None, "", None)
    assert (session.tokens, session.tokens_eur, session.user_rating) == (0, 0, None)


def test_missing_columns_fail_the_import_naming_them(upload: Upload, company_a: Company) -> None:
    columns = [c for c in csv_text([]).strip().split(",") if c not in {"sentiment", "tokens"}]
    source = imported(upload(company_a, csv_text([{}], columns=columns)))
    assert source.status == DataSource.Status.FAILED
    assert source.error == "Cannot import this file: missing columns: sentiment, tokens."
    assert (source.rows_imported, source.rows_rejected) == (0, 0)
    assert source.finished_at is not None
    assert session_ids(company_a) == []


def test_empty_file_fails_with_a_clear_error(upload: Upload, company_a: Company) -> None:
    source = imported(upload(company_a, "\n\n"))
    assert source.status == DataSource.Status.FAILED
    assert source.error == "Cannot import this file: empty file: no header row."


def test_reimporting_the_same_file_adds_no_sessions(upload: Upload, company_a: Company) -> None:
    text = csv_text(sessions("A", "B", "C"))
    first = imported(upload(company_a, text))
    again = imported(upload(company_a, text))
    assert (first.rows_imported, first.duplicates) == (3, 0)
    assert (again.status, again.rows_imported, again.duplicates) == (DataSource.Status.DONE, 0, 3)
    assert session_ids(company_a) == ["A", "B", "C"]
    # The sessions stay with the data source that brought them first.
    assert set(ChatSession.objects.values_list("data_source_id", flat=True)) == {first.pk}


def test_duplicate_session_ids_in_one_file_keep_the_first(
    upload: Upload, company_a: Company
) -> None:
    rows = [
        {"session_id": "A", "country": "first"},
        {"session_id": "B"},
        {"session_id": "A", "country": "second"},
        {"session_id": "C"},
        {"session_id": "A", "country": "third"},
    ]
    source = imported(upload(company_a, csv_text(rows)))
    assert (source.rows_imported, source.duplicates, source.rows_rejected) == (3, 2, 0)
    assert ChatSession.objects.get(session_id="A").country == "first"


def test_duplicates_across_batches_are_counted_exactly(upload: Upload, company_a: Company) -> None:
    rows = sessions("A", "B", "A", "C", "B", "D", "A")
    source = upload(company_a, csv_text(rows))
    assert run_import(source.pk, batch_rows=2).outcome is Outcome.DONE
    source.refresh_from_db()
    assert (source.rows_imported, source.duplicates) == (4, 3)
    assert session_ids(company_a) == ["A", "B", "C", "D"]


def test_the_same_session_id_in_two_companies_is_two_sessions(
    upload: Upload, company_a: Company, company_b: Company
) -> None:
    text = csv_text(sessions("A"))
    assert imported(upload(company_a, text)).rows_imported == 1
    assert imported(upload(company_b, text)).rows_imported == 1


def test_latin1_file_is_imported(upload: Upload, company_a: Company) -> None:
    text = csv_text([{"session_id": "Z1", "country": "España", "initial_msg": "¿Dónde está?"}])
    source = imported(upload(company_a, text.encode("latin-1")))
    assert (source.status, source.rows_imported) == (DataSource.Status.DONE, 1)
    session = ChatSession.objects.get(session_id="Z1")
    assert (session.country, session.initial_msg) == ("España", "¿Dónde está?")


def test_progress_is_written_per_batch(
    upload: Upload, company_a: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = csv_text(sessions(*(f"S{n}" for n in range(7))))
    source = upload(company_a, text)
    seen: list[tuple[int, int]] = []
    save = importer._save_progress

    def spy(source: DataSource, report: Any, bytes_processed: int) -> None:
        save(source, report, bytes_processed)
        row = DataSource.objects.get(pk=source.pk)
        assert row.status == DataSource.Status.IMPORTING
        seen.append((row.rows_imported, row.bytes_processed))

    monkeypatch.setattr(importer, "_save_progress", spy)
    run_import(source.pk, batch_rows=3)
    assert [rows for rows, _ in seen] == [3, 6, 7]
    assert seen[-1][1] == len(text)


def test_import_runs_once(upload: Upload, company_a: Company) -> None:
    source = upload(company_a, csv_text(sessions("A")))
    assert run_import(source.pk).outcome is Outcome.DONE
    finished = DataSource.objects.get(pk=source.pk).finished_at
    assert run_import(source.pk).outcome is Outcome.SKIPPED
    assert DataSource.objects.get(pk=source.pk).finished_at == finished
    assert run_import(source.pk + 1000).outcome is Outcome.SKIPPED  # gone


def test_a_running_import_is_left_to_its_worker(upload: Upload, company_a: Company) -> None:
    source = upload(company_a, csv_text(sessions("A")))
    now = timezone.now()
    DataSource.objects.filter(pk=source.pk).update(
        status=DataSource.Status.IMPORTING, started_at=now, heartbeat_at=now
    )
    result = run_import(source.pk, now=now + dt.timedelta(minutes=1))
    assert result.outcome is Outcome.BUSY
    assert result.retry_after == importer.STALE_AFTER - dt.timedelta(minutes=1)
    assert session_ids(company_a) == []


def test_an_abandoned_import_restarts_from_scratch(upload: Upload, company_a: Company) -> None:
    source = upload(company_a, csv_text(sessions("A", "B")))
    long_ago = timezone.now() - importer.STALE_AFTER - dt.timedelta(seconds=1)
    # What a worker that died after its first batch leaves behind.
    ChatSession.objects.create(
        company=company_a,
        data_source=source,
        session_id="A",
        start_time=long_ago,
        end_time=long_ago,
    )
    DataSource.objects.filter(pk=source.pk).update(
        status=DataSource.Status.IMPORTING,
        started_at=long_ago,
        heartbeat_at=long_ago,
        rows_imported=1,
    )
    assert run_import(source.pk).outcome is Outcome.DONE
    source.refresh_from_db()
    assert (source.rows_imported, source.duplicates) == (2, 0)
    assert session_ids(company_a) == ["A", "B"]


def test_deleting_the_source_during_the_import_stops_it(
    upload: Upload, company_a: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = upload(company_a, csv_text(sessions("A", "B", "C", "D")))
    save = importer._save_progress

    def delete_after_first_batch(source: DataSource, report: Any, bytes_processed: int) -> None:
        save(source, report, bytes_processed)
        DataSource.objects.filter(pk=source.pk).delete()

    monkeypatch.setattr(importer, "_save_progress", delete_after_first_batch)
    assert run_import(source.pk, batch_rows=2).outcome is Outcome.SKIPPED
    assert session_ids(company_a) == []


def test_a_missing_file_fails_the_import(upload: Upload, company_a: Company) -> None:
    source = upload(company_a, csv_text(sessions("A")))
    source.file.storage.delete(source.file.name)
    source = imported(source)
    assert source.status == DataSource.Status.FAILED
    assert source.error == "The uploaded file is missing from storage."


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL constraint")
def test_rows_the_database_refuses_are_isolated_and_reported(
    upload: Upload, company_a: Company
) -> None:
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(
            "ALTER TABLE analytics_chatsession "
            "ADD CONSTRAINT test_no_mars CHECK (country <> 'MARS')"
        )
    rows = [
        {"session_id": "A"},
        {"session_id": "B", "country": "MARS"},
        {"session_id": "C"},
        {"session_id": "A"},
        {"session_id": "E", "country": "MARS"},
    ]
    source = imported(upload(company_a, csv_text(rows)))
    assert source.status == DataSource.Status.DONE
    assert (source.rows_imported, source.rows_rejected, source.duplicates) == (2, 2, 1)
    assert [(e["line"], e["column"]) for e in source.errors] == [(3, None), (6, None)]
    assert source.errors[0]["reason"].startswith("refused by the database: ")
    assert "test_no_mars" in source.errors[0]["reason"]
    assert session_ids(company_a) == ["A", "C"]


def test_the_stored_error_list_is_capped_but_every_rejection_counted(
    upload: Upload, company_a: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "MAX_STORED_ERRORS", 3)
    rows = [{"session_id": f"S{n}", "messages_sent": "many"} for n in range(5)]
    source = imported(upload(company_a, csv_text([*rows, {"session_id": "ok"}])))
    assert (source.rows_imported, source.rows_rejected) == (1, 5)
    assert [error["line"] for error in source.errors] == [2, 3, 4]


def test_values_beyond_the_columns_limits_are_row_errors(
    upload: Upload, company_a: Company
) -> None:
    rows = [
        {"session_id": "S1", "category": "c" * 65},
        {"session_id": "S2", "tokens_eur": "100000000"},
        {"session_id": "S3", "start_time": "0001-01-01T00:00:00+05:00"},
        {"session_id": "S4", "tokens": str(2**40)},
    ]
    source = imported(upload(company_a, csv_text(rows)))
    assert source.status == DataSource.Status.DONE
    assert [(e["line"], e["column"]) for e in source.errors] == [
        (2, "category"),
        (3, "tokens_eur"),
        (4, "start_time"),
    ]
    assert ChatSession.objects.get(session_id="S4").tokens == 2**40


def test_an_unexpected_fault_fails_the_import_and_keeps_committed_batches(
    upload: Upload, company_a: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = upload(company_a, csv_text(sessions("A", "B", "C", "D")))
    write = importer._PostgresWriter.write
    calls = {"n": 0}

    def failing_second_batch(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return write(self, *args)

    monkeypatch.setattr(importer._PostgresWriter, "write", failing_second_batch)
    assert run_import(source.pk, batch_rows=2).outcome is Outcome.FAILED
    source.refresh_from_db()
    assert source.status == DataSource.Status.FAILED
    assert source.error == "The import stopped unexpectedly: disk on fire"
    assert source.rows_imported == 2
    assert session_ids(company_a) == ["A", "B"]
