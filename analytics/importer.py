"""CSV import, step 2: parsed rows become ChatSessions, with the report the upload page shows.

``run_import(data_source_id)`` is what the ``import_data_source`` actor runs:

1. **Claim** (one short transaction, the data source row locked): only a ``pending`` source, or
   an ``importing`` one whose heartbeat is older than ``STALE_AFTER`` — its worker died (a live
   import beats every batch, i.e. every second or so). A stale import restarts from the top:
   the sessions it had committed are deleted first, so its report stays exact. A fresh
   ``importing`` source is someone else's run: the caller is told to look again when it would
   be stale (a worker that dies holding it is then taken over). ``done``/``failed``: nothing.
2. **Stream**: ``parse_sessions`` reads the stored file, cut into batches of ``BATCH_ROWS``
   rows or ``BATCH_BYTES`` of file. Memory stays flat: two batches at most (the one being
   written, the next one being parsed), whatever the file size.
3. **Per batch**: stage the valid rows (PostgreSQL: ``COPY`` into a temporary table that lives
   for the batch's transaction only, so PgBouncer in transaction mode can stand in between), then
   ``INSERT … SELECT DISTINCT ON (session_id) … ON CONFLICT (company_id, session_id) DO
   NOTHING`` counting what was inserted — the rest are duplicates, of earlier imports or of
   earlier lines of this file (the first line wins), counted exactly — and write the progress
   (counts, ``bytes_processed``, capped ``errors``, heartbeat) with the source row locked.
   If the database refuses a batch (a value the parser let through but a column does not take)
   the batch is bisected with savepoints until the refused rows are isolated; they become row
   errors and the rest of the batch still goes in.
4. **Finish**: ``done``; or ``failed`` with ``error`` for a file that cannot be read at all
   (missing or duplicate columns, no header, file gone) or an unexpected fault — rows committed
   before a fault stay, and the report says how many.

Throughput. PostgreSQL spends most of an import maintaining indexes (the full-text GIN above
all) and checking foreign keys, on one core per connection. So each batch is split by
``session_id`` hash over ``LANES`` connections that insert in parallel, in worker threads
that only wait on the database, while this thread parses the next batch (see
``_PostgresWriter``). Rows are inserted in ``session_id`` order, so concurrent imports take
the unique index's keys in one order and cannot deadlock. SQLite, for the local demo, runs the
same ``INSERT … ON CONFLICT DO NOTHING`` with ``executemany``. Either way the unique
``(company, session_id)`` constraint, not a lookup, decides what is a duplicate, so
re-importing a file adds nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import IO, Any, Final, Protocol, TypeVar

import psycopg
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    ProgrammingError,
    connection,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.utils import timezone
from msgspec.structs import astuple

from analytics.csv_parser import HeaderError, RowError, SessionRow, parse_sessions
from analytics.models import ChatSession, DataSource

__all__ = [
    "BATCH_BYTES",
    "BATCH_ROWS",
    "LANES",
    "MAX_STORED_ERRORS",
    "STALE_AFTER",
    "ImportResult",
    "Outcome",
    "run_import",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

BATCH_ROWS: Final = 20_000
# Of file read: bounds a batch of long transcripts (the SQLite buffer, the staging table).
BATCH_BYTES: Final = 8 * 1024 * 1024
MAX_STORED_ERRORS: Final = 1_000
# PostgreSQL connections inserting in parallel (see _PostgresWriter).
LANES: Final = 2
STALE_AFTER: Final = dt.timedelta(minutes=5)

# The staged columns, in SessionRow's field order (astuple(row) is the COPY row).
_STAGED: Final[tuple[str, ...]] = SessionRow.__struct_fields__
_SESSION_COLUMNS: Final = _STAGED[1:]  # without "line"
# Their types in the staging table, loose on purpose: COPY must never fail a whole batch;
# every cast and length check happens in the INSERT, where a refused row can be isolated.
_STAGED_TYPES: Final = {
    "line": "integer",
    "session_id": "text",
    "start_time": "timestamptz",
    "end_time": "timestamptz",
    "ip_address": "text",
    "country": "text",
    "language": "text",
    "messages_sent": "bigint",
    "sentiment": "text",
    "escalated": "boolean",
    "forwarded_hr": "boolean",
    "full_transcript": "text",
    "avg_response_time": "double precision",
    "tokens": "numeric",
    "tokens_eur": "numeric",
    "category": "text",
    "initial_msg": "text",
    "user_rating": "integer",
}
assert tuple(_STAGED_TYPES) == _STAGED


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to do: finished, deleted, or taken over by another run
    BUSY = "busy"  # another run is importing it: look again after `retry_after`


@dataclasses.dataclass(frozen=True)
class ImportResult:
    outcome: Outcome
    retry_after: dt.timedelta | None = None


class _Superseded(Exception):
    """The data source was deleted, or another run took it over: stop quietly."""


class _CountingReader:
    """The stored file, counting the bytes the parser has read (``bytes_processed``)."""

    __slots__ = ("_file", "count")

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._file.read(size)
        self.count += len(data)
        return data


@dataclasses.dataclass
class _Report:
    rows_imported: int = 0
    rows_rejected: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    errors_changed: bool = False

    def reject(self, error: RowError) -> None:
        self.rows_rejected += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append({"line": error.line, "column": error.column, "reason": error.reason})
            self.errors_changed = True


# --- batches -------------------------------------------------------------------------------


@dataclasses.dataclass
class _Batch:
    rows: list[SessionRow]
    errors: list[RowError]
    bytes_read: int  # of the file, when the batch was cut
    last: bool


def _take_batch(
    items: Iterator[SessionRow | RowError],
    reader: _CountingReader,
    batch_rows: int,
    batch_bytes: int,
) -> _Batch:
    """The next batch: up to ``batch_rows`` valid rows or ``batch_bytes`` more of the file."""
    rows: list[SessionRow] = []
    errors: list[RowError] = []
    byte_limit = reader.count + batch_bytes
    for item in items:
        if type(item) is SessionRow:
            rows.append(item)
            if len(rows) >= batch_rows:
                break
        else:
            errors.append(item)  # type: ignore[arg-type]
        if reader.count >= byte_limit:
            break
    else:
        return _Batch(rows, errors, reader.count, last=True)
    return _Batch(rows, errors, reader.count, last=False)


# --- writers: one batch into ChatSession -----------------------------------------------------


class _Writer(Protocol):
    def write(
        self,
        rows: list[SessionRow],
        company_id: int,
        source_id: int,
        meanwhile: Callable[[], _T],
    ) -> tuple[int, list[RowError], _T]:
        """Insert and commit ``rows`` (within a caller's transaction, only a savepoint): the
        count inserted (the others are duplicates), the rows the database refused, and what
        ``meanwhile()`` returned — called while the database works, if the writer can."""
        ...

    def close(self) -> None: ...


def _insert_sql(source: str) -> str:
    """INSERT of ``source`` (``VALUES`` or ``SELECT``: company, data source, session columns)."""
    columns = ", ".join(
        ["company_id", "data_source_id", *(_column(name) for name in _SESSION_COLUMNS)]
    )
    return (
        f"INSERT INTO {ChatSession._meta.db_table} ({columns}) {source} "
        f"ON CONFLICT ({_column('company')}, {_column('session_id')}) DO NOTHING"
    )


def _column(name: str) -> str:
    field = ChatSession._meta.get_field(name)
    assert isinstance(field, Field) and field.column
    return connection.ops.quote_name(field.column)


# A broken statement or connection is the importer's fault, not a row's: it fails the import
# rather than being "isolated" row by row.
_NOT_ABOUT_ROWS: Final = (ProgrammingError, InterfaceError, NotSupportedError)
_NOT_ABOUT_ROWS_PG: Final = (
    psycopg.ProgrammingError,
    psycopg.InterfaceError,
    psycopg.NotSupportedError,
    psycopg.errors.QueryCanceled,  # a statement timeout, not a bad value
)


def _refused(line: int, exc: Exception) -> RowError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RowError(line, None, f"refused by the database: {message}")


class _Lane:
    """One PostgreSQL connection inserting its share of each batch through a staging table.

    Lane 0 is the caller's connection, the others are opened for the import. Lanes speak raw
    psycopg only, so they can run in worker threads (a psycopg connection needs one user at a
    time; Django's wrappers are tied to the thread that made them).

    A batch is one transaction from the staging table's creation to its drop: behind PgBouncer
    in transaction mode (docs/operations.md, "PgBouncer") the next transaction may run on
    another server connection, where a temporary table kept across transactions, or rows
    copied into it by an earlier one, would not exist.
    """

    STAGE: Final = "analytics_import_stage"

    def __init__(self, wrapper: BaseDatabaseWrapper, *, owned: bool) -> None:
        self._wrapper, self._owned = wrapper, owned
        wrapper.ensure_connection()
        raw = wrapper.connection
        assert isinstance(raw, psycopg.Connection)
        self._raw = raw
        # A plain (server-side binding) cursor: Django's own ones bind on the client.
        self._cursor = psycopg.Cursor(raw)
        self._rows: list[SessionRow] = []
        columns = ", ".join(f"{name} {type_}" for name, type_ in _STAGED_TYPES.items())
        # Dropped at commit, and by `insert` itself for a lane inside a caller's transaction.
        self._create = f"CREATE TEMPORARY TABLE {self.STAGE} ({columns}) ON COMMIT DROP"
        # Binary: the server reads times and numbers as they are instead of parsing text.
        self._copy_sql = f"COPY {self.STAGE} ({', '.join(_STAGED)}) FROM STDIN (FORMAT BINARY)"
        selected = ", ".join(
            "ip_address::inet"
            if name == "ip_address"
            else "coalesce(sentiment, '')"
            if name == "sentiment"
            else name
            for name in _SESSION_COLUMNS
        )
        # In session_id order (the first line of each wins): concurrent imports then take the
        # unique index's keys in one global order and cannot deadlock on each other.
        # Every identifier here comes from the model or this module, never from the file.
        select = (
            f"SELECT DISTINCT ON (session_id) %s, %s, {selected} FROM {self.STAGE} "  # noqa: S608
            "WHERE line BETWEEN %s AND %s ORDER BY session_id, line"
        )
        self._insert = f"WITH inserted AS ({_insert_sql(select)} RETURNING 1) "
        self._insert += "SELECT count(*) FROM inserted"

    def stage(self, rows: list[SessionRow]) -> None:
        """Hand the lane its share of the next batch (copied in by `insert`, in its thread)."""
        self._rows = rows

    def insert(self, company_id: int, source_id: int) -> tuple[int, list[RowError]]:
        """Stage and insert the share in a transaction of its own (a savepoint within a
        caller's)."""
        rows, self._rows = self._rows, []
        if not rows:
            return 0, []
        with self._raw.transaction():
            # For this transaction only: sort in memory rather than on disk, and do not wait
            # for the WAL flush at commit — a crash loses the last batches, and the import is
            # then restarted as abandoned.
            self._cursor.execute(
                "SELECT set_config('work_mem', '64MB', true), "
                "set_config('synchronous_commit', 'off', true)"
            )
            self._cursor.execute(self._create)
            with self._cursor.copy(self._copy_sql) as copy:
                copy.set_types(list(_STAGED_TYPES.values()))
                write_row = copy.write_row
                for row in rows:
                    write_row(astuple(row))
            result = self._isolate([row.line for row in rows], company_id, source_id)
            self._cursor.execute(f"DROP TABLE {self.STAGE}")
        return result

    def _isolate(
        self, lines: list[int], company_id: int, source_id: int
    ) -> tuple[int, list[RowError]]:
        """Insert the staged ``lines``; if refused, halve around the refusals with savepoints:
        one statement when nothing is refused, O(refused · log n) otherwise."""
        try:
            with self._raw.transaction():
                self._cursor.execute(self._insert, [company_id, source_id, lines[0], lines[-1]])
                counted = self._cursor.fetchone()
                return int(counted[0]) if counted else 0, []
        except _NOT_ABOUT_ROWS_PG:
            raise
        except psycopg.Error as exc:
            if self._raw.broken or self._raw.closed:
                raise
            if len(lines) == 1:
                return 0, [_refused(lines[0], exc)]
        middle = len(lines) // 2
        first, first_refused = self._isolate(lines[:middle], company_id, source_id)
        second, second_refused = self._isolate(lines[middle:], company_id, source_id)
        return first + second, first_refused + second_refused

    def close(self) -> None:
        try:
            self._cursor.close()
        finally:
            if self._owned:
                self._wrapper.close()


class _PostgresWriter:
    """Each batch split by ``session_id`` hash over ``lanes`` connections, inserted in parallel.

    PostgreSQL spends most of an import on index upkeep (full-text GIN, unique and time
    indexes) and foreign-key checks, one backend per connection: two lanes use two cores for
    it, while this thread parses the next batch. The same session id always lands in the
    same lane, so duplicates and the first-line-wins rule stay exact. Each lane commits on its
    own (see ``_load`` for what that means for the report). Inside a caller's transaction
    (tests) there is one lane: other connections could not see the caller's rows.
    """

    def __init__(self, lanes: int) -> None:
        count = 1 if connection.in_atomic_block else max(lanes, 1)
        self._pool: ThreadPoolExecutor | None = None
        self._lanes = [_Lane(connection, owned=False)]
        try:
            for _ in range(count - 1):
                wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
                self._lanes.append(_Lane(wrapper, owned=True))
        except BaseException:
            self.close()
            raise
        self._pool = ThreadPoolExecutor(len(self._lanes), thread_name_prefix="csv-import")

    def write(
        self,
        rows: list[SessionRow],
        company_id: int,
        source_id: int,
        meanwhile: Callable[[], _T],
    ) -> tuple[int, list[RowError], _T]:
        lanes = self._lanes
        if len(lanes) == 1:
            shares = [rows]
        else:
            shares = [[] for _ in lanes]
            for row in rows:
                shares[hash(row.session_id) % len(lanes)].append(row)
        assert self._pool is not None
        running = []
        try:
            for lane, share in zip(lanes, shares, strict=True):
                lane.stage(share)
                running.append(self._pool.submit(lane.insert, company_id, source_id))
            upcoming = meanwhile()  # parse the next batch while the lanes insert
        finally:
            wait(running)
        inserted, refused = 0, []
        for future in running:
            count, errors = future.result()  # re-raises a lane's failure
            inserted += count
            refused += errors
        refused.sort(key=lambda error: error.line)
        return inserted, refused, upcoming

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for lane in self._lanes:
            try:
                lane.close()
            except Exception:
                logger.exception("could not close an import connection")


class _SqliteWriter:
    """The local demo's fallback: ``executemany`` of the same INSERT … ON CONFLICT DO NOTHING."""

    def __init__(self) -> None:
        placeholders = ", ".join(["%s"] * (len(_SESSION_COLUMNS) + 2))
        self._insert = _insert_sql(f"VALUES ({placeholders})")

    def write(
        self,
        rows: list[SessionRow],
        company_id: int,
        source_id: int,
        meanwhile: Callable[[], _T],
    ) -> tuple[int, list[RowError], _T]:
        adapt = connection.ops.adapt_datetimefield_value
        values = []
        for row in rows:
            fields = list(astuple(row))
            fields[0:1] = [company_id, source_id]  # in place of "line"
            fields[3], fields[4] = adapt(row.start_time), adapt(row.end_time)
            fields[9] = row.sentiment or ""
            fields[15] = str(row.tokens_eur)
            values.append(fields)
        with connection.cursor() as cursor:
            inserted, refused = self._isolate(cursor, values, [row.line for row in rows])
        return inserted, refused, meanwhile()

    def _isolate(
        self, cursor: Any, values: list[list[Any]], lines: list[int]
    ) -> tuple[int, list[RowError]]:
        if not values:
            return 0, []
        try:
            with transaction.atomic():
                cursor.executemany(self._insert, values)
                return max(cursor.rowcount, 0), []
        except _NOT_ABOUT_ROWS:
            raise
        except DatabaseError as exc:
            if len(values) == 1:
                return 0, [_refused(lines[0], exc)]
        middle = len(values) // 2
        first, first_refused = self._isolate(cursor, values[:middle], lines[:middle])
        second, second_refused = self._isolate(cursor, values[middle:], lines[middle:])
        return first + second, first_refused + second_refused

    def close(self) -> None:
        return None


def _writer(lanes: int) -> _Writer:
    if connection.vendor == "postgresql":
        return _PostgresWriter(lanes)
    return _SqliteWriter()


# --- the run --------------------------------------------------------------------------------


def run_import(
    data_source_id: int,
    *,
    batch_rows: int = BATCH_ROWS,
    batch_bytes: int = BATCH_BYTES,
    lanes: int = LANES,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Import a data source's stored CSV (see the module docstring). Safe to call repeatedly."""
    claimed = _claim(data_source_id, now or timezone.now())
    if isinstance(claimed, ImportResult):
        return claimed
    source = claimed
    report = _Report()
    reader: _CountingReader | None = None
    try:
        if not source.file:
            _finish(source, report, 0, error="No file was uploaded for this data source.")
            return ImportResult(Outcome.FAILED)
        try:
            handle = source.file.open("rb")
        except FileNotFoundError:
            _finish(source, report, 0, error="The uploaded file is missing from storage.")
            return ImportResult(Outcome.FAILED)
        with handle:
            reader = _CountingReader(handle)
            try:
                items = parse_sessions(reader)
            except HeaderError as exc:
                _finish(source, report, reader.count, error=f"Cannot import this file: {exc}.")
                return ImportResult(Outcome.FAILED)
            bytes_read = _load(source, items, report, reader, batch_rows, batch_bytes, lanes)
        _finish(source, report, bytes_read)
        return ImportResult(Outcome.DONE)
    except _Superseded:
        return ImportResult(Outcome.SKIPPED)
    except Exception as exc:
        logger.exception("import of data source %s failed", data_source_id)
        _fail_quietly(source, report, reader, f"The import stopped unexpectedly: {exc}")
        return ImportResult(Outcome.FAILED)
    except BaseException:  # a worker time limit or shutdown interrupting the run
        _fail_quietly(
            source, report, reader, "The import was interrupted (time limit or shutdown)."
        )
        raise


def _claim(data_source_id: int, now: dt.datetime) -> DataSource | ImportResult:
    with transaction.atomic():
        source = (
            DataSource.objects.unscoped()
            .select_for_update()
            .filter(pk=data_source_id, kind=DataSource.Kind.CSV)
            .first()
        )
        if source is None:
            return ImportResult(Outcome.SKIPPED)
        if source.status == DataSource.Status.IMPORTING:
            beat = source.heartbeat_at or source.started_at
            if beat is not None and now - beat < STALE_AFTER:
                return ImportResult(Outcome.BUSY, retry_after=STALE_AFTER - (now - beat))
            logger.warning("data source %s: restarting an abandoned import", data_source_id)
            ChatSession.objects.unscoped().filter(data_source_id=source.pk).delete()
        elif source.status != DataSource.Status.PENDING:
            return ImportResult(Outcome.SKIPPED)
        source.status = DataSource.Status.IMPORTING
        source.started_at = source.heartbeat_at = now
        source.finished_at = None
        source.rows_imported = source.rows_rejected = source.duplicates = 0
        source.bytes_processed = 0
        source.errors = []
        source.error = ""
        source.save(
            update_fields=[
                "status",
                "started_at",
                "heartbeat_at",
                "finished_at",
                "rows_imported",
                "rows_rejected",
                "duplicates",
                "bytes_processed",
                "errors",
                "error",
            ]
        )
    return source


def _load(
    source: DataSource,
    items: Iterator[SessionRow | RowError],
    report: _Report,
    reader: _CountingReader,
    batch_rows: int,
    batch_bytes: int,
    lanes: int,
) -> int:
    """Write every batch; the bytes of the file read.

    On PostgreSQL the lanes commit a batch's rows, then its progress is written: a worker that
    dies in between leaves counts one batch short of the rows, which the restart of the
    abandoned import (it deletes the source's sessions first) puts right. A source deleted
    meanwhile fails a lane's foreign-key check, and the import stops.
    """

    def take() -> _Batch | None:
        return None if batch.last else _take_batch(items, reader, batch_rows, batch_bytes)

    writer = _writer(lanes)
    try:
        upcoming: _Batch | None = _take_batch(items, reader, batch_rows, batch_bytes)
        while upcoming is not None:
            batch = upcoming
            for error in batch.errors:
                report.reject(error)
            _check_run(source)
            try:
                inserted, refused, upcoming = writer.write(
                    batch.rows, source.company_id, source.pk, take
                )
            except (IntegrityError, psycopg.IntegrityError):
                _check_run(source)  # deleted meanwhile: its rows failed the foreign key
                raise
            with transaction.atomic():
                _lock_run(source)
                for error in refused:
                    report.reject(error)
                report.rows_imported += inserted
                report.duplicates += len(batch.rows) - inserted - len(refused)
                _save_progress(source, report, batch.bytes_read)
    finally:
        writer.close()
    return batch.bytes_read


def _check_run(source: DataSource) -> None:
    """``_Superseded`` if the source is gone or no longer this run's (no lock taken)."""
    started_at = (
        DataSource.objects.unscoped()
        .filter(pk=source.pk, status=DataSource.Status.IMPORTING)
        .values_list("started_at", flat=True)
        .first()
    )
    if started_at is None or started_at != source.started_at:
        raise _Superseded


def _lock_run(source: DataSource) -> None:
    """Lock the source for this batch; ``_Superseded`` if it is gone or no longer this run's."""
    started_at = (
        DataSource.objects.unscoped()
        .select_for_update()
        .filter(pk=source.pk, status=DataSource.Status.IMPORTING)
        .values_list("started_at", flat=True)
        .first()
    )
    if started_at is None or started_at != source.started_at:
        raise _Superseded


def _report_fields(report: _Report, bytes_processed: int) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "rows_imported": report.rows_imported,
        "rows_rejected": report.rows_rejected,
        "duplicates": report.duplicates,
        "bytes_processed": bytes_processed,
        "heartbeat_at": timezone.now(),
    }
    if report.errors_changed:
        report.errors.sort(key=lambda error: error["line"])
        fields["errors"] = report.errors
        report.errors_changed = False
    return fields


def _save_progress(source: DataSource, report: _Report, bytes_processed: int) -> None:
    DataSource.objects.unscoped().filter(pk=source.pk).update(
        **_report_fields(report, bytes_processed)
    )


def _finish(source: DataSource, report: _Report, bytes_processed: int, *, error: str = "") -> None:
    with transaction.atomic():
        _lock_run(source)
        DataSource.objects.unscoped().filter(pk=source.pk).update(
            **_report_fields(report, bytes_processed),
            status=DataSource.Status.FAILED if error else DataSource.Status.DONE,
            error=error,
            finished_at=timezone.now(),
        )


def _fail_quietly(
    source: DataSource, report: _Report, reader: _CountingReader | None, error: str
) -> None:
    """Record a fault; the counts stay those of the batches committed before it."""
    try:
        DataSource.objects.unscoped().filter(
            pk=source.pk, status=DataSource.Status.IMPORTING, started_at=source.started_at
        ).update(
            status=DataSource.Status.FAILED,
            error=error[:2000],
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
    except Exception:
        logger.exception("could not mark data source %s failed", source.pk)
