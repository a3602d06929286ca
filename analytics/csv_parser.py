"""Chat-session CSV → typed rows: step 1 of the analytics import (bytes in, rows and errors out).

The importer (a dramatiq actor) feeds an uploaded file through ``parse_sessions`` and bulk-writes
the ``SessionRow`` values with PostgreSQL COPY, storing each ``RowError`` as
``{line, column, reason}``. This module is pure (no Django) and streaming: it holds one record
at a time, so memory stays flat whatever the file size, and one bad row never costs the others.

Decisions the importer can rely on:

* **Encoding.** A file that starts with a byte-order mark is read in the encoding it names:
  UTF-8, UTF-16 or UTF-32 (Excel's "Unicode text"), either byte order; UTF-16/32 is decoded
  as it streams in. Otherwise every physical line is decoded as UTF-8 and, only if that fails,
  as Latin-1 — per line, so an invalid byte late in a file needs no restart (uploads need not
  be seekable) and garbles nothing before it. A Latin-1 line whose bytes happen to form valid
  UTF-8 (``"Ã©"``) is read as UTF-8; real text practically never does. NUL bytes in the first
  line of a file without a mark mean neither: ``EncodingError`` names what the file looks like
  (UTF-16 or UTF-32 without a mark, or not text at all) instead of reporting missing columns.
* **Line numbers** are physical lines counted from 1 (``\\n``, ``\\r\\n`` or a lone ``\\r`` end a
  line, as for ``open(newline='')``). A row's ``line`` is where its record starts; a quoting
  error points at the line where the offending quote opened.
* **One ``RowError`` per rejected record**, for its first problem: columns are checked in
  contract order (``COLUMNS``), then ``end_time >= start_time``. So ``rows_rejected`` is simply
  the number of errors. ``column`` is ``None`` when the record could not be split into fields.
* **Quoting is strict** (``csv`` with ``strict=True``): a closing quote must be followed by a
  comma or the end of the line. ``"He said "hi""`` is an error, not silently rewritten.
* **Unclosed quotes** cost one row, not the rest of the file: the lines the bad quote swallowed
  (up to the next quote or the end of the file) are read again as records of their own.
* **Fields over ``max_field_size`` characters** reject their row; a quoted one is skipped up to
  its closing quote so the next rows parse normally. A quote left open for more than twice that
  many characters looks the same, so its lines are skipped up to the next quote or the end of
  the file, in one error naming the line where it opened (this bounds memory).
* Unknown header columns are ignored. Rows whose fields are all blank count as blank lines.
  A NUL character rejects its row (PostgreSQL text cannot hold one).
* Integer bounds follow PostgreSQL: ``messages_sent`` fits ``integer``, ``tokens`` ``bigint``.
  Date-times keep their offset; naive ones are taken as UTC, and must stay within years
  1-9999 once in UTC (what Python can read back). Text limits follow the columns they land in
  (``session_id`` 255, ``country`` and ``category`` 64, ``language`` 16 characters) and
  ``tokens_eur`` fits ``numeric(12, 4)``: a value the database would refuse must be a row
  error here, or it would fail the importer's whole batch.
"""

from __future__ import annotations

import codecs
import csv
import ipaddress
import math
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final, Protocol

import msgspec

__all__ = [
    "COLUMNS",
    "DEFAULT_MAX_FIELD_SIZE",
    "DEFAULT_MAX_LINE_BYTES",
    "EncodingError",
    "HeaderError",
    "OverlongLineError",
    "RowError",
    "SessionRow",
    "TextLines",
    "open_text_stream",
    "parse_sessions",
]

COLUMNS: Final = (
    "session_id",
    "start_time",
    "end_time",
    "ip_address",
    "country",
    "language",
    "messages_sent",
    "sentiment",
    "escalated",
    "forwarded_hr",
    "full_transcript",
    "avg_response_time",
    "tokens",
    "tokens_eur",
    "category",
    "initial_msg",
    "user_rating",
)

DEFAULT_MAX_FIELD_SIZE: Final = 131_072  # the csv module's own default limit, in characters
DEFAULT_MAX_LINE_BYTES: Final = 16 * 1024 * 1024  # bounds memory when a file has no newlines
_CHUNK_SIZE: Final = 1024 * 1024

INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1


class BinaryReadable(Protocol):
    """What we need from an upload: a file opened ``rb``, ``BytesIO``, Django's UploadedFile."""

    def read(self, size: int = -1, /) -> bytes: ...


class SessionRow(msgspec.Struct, frozen=True, gc=False):
    """One valid chat session; fields in contract order after ``line`` (where it starts)."""

    line: int
    session_id: str
    start_time: datetime
    end_time: datetime
    ip_address: str | None
    country: str
    language: str
    messages_sent: int
    sentiment: str | None
    escalated: bool
    forwarded_hr: bool
    full_transcript: str
    avg_response_time: float | None
    tokens: int
    tokens_eur: Decimal
    category: str
    initial_msg: str
    user_rating: int | None


class RowError(msgspec.Struct, frozen=True, gc=False):
    """A rejected record: stored by the importer as ``{line, column, reason}``."""

    line: int
    column: str | None
    reason: str


class HeaderError(ValueError):
    """The header row is absent, incomplete or ambiguous: no row of the file can be trusted."""

    def __init__(
        self, message: str, *, missing: tuple[str, ...] = (), duplicates: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.duplicates = duplicates


class EncodingError(HeaderError):
    """The file is not text this parser can read; the message names what it looks like."""


class OverlongLineError(ValueError):
    """A physical line exceeded the byte budget; it was discarded and reading can go on."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} bytes")
        self.limit = limit


# --- decoding -----------------------------------------------------------------------------

# Longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_BYTES: Final = 4


def _share_of_zeros(data: bytes) -> float:
    return data.count(0) / len(data) if data else 0.0


def _encoding_error(first_line: bytes) -> EncodingError:
    """What a first line with NUL bytes (and no byte-order mark) says about the file.

    The header is ASCII column names, so in UTF-16 every other byte is NUL, in UTF-32 three
    bytes in four: where they fall gives the byte order.
    """
    sample = first_line[:512]
    sample = sample[: len(sample) - len(sample) % 4] or sample
    zeros = [_share_of_zeros(sample[offset::4]) for offset in range(4)]
    looks = None
    if min(zeros[1:]) > 0.9 and zeros[0] < 0.1:
        looks = "UTF-32-LE"
    elif min(zeros[:3]) > 0.9 and zeros[3] < 0.1:
        looks = "UTF-32-BE"
    else:
        even, odd = _share_of_zeros(sample[0::2]), _share_of_zeros(sample[1::2])
        if odd > 0.9 and even < 0.1:
            looks = "UTF-16-LE"
        elif even > 0.9 and odd < 0.1:
            looks = "UTF-16-BE"
    if looks:
        return EncodingError(
            f"the file looks like {looks} text without a byte-order mark, so its encoding "
            "cannot be told for sure: save it as UTF-8 (or as UTF-16 with a byte-order mark)"
        )
    return EncodingError(_NOT_TEXT)


_NOT_TEXT: Final = (
    "this is not a text file (it has NUL bytes): save the data as CSV, in UTF-8, UTF-16 or "
    "UTF-32 with a byte-order mark, or Latin-1"
)


class TextLines:
    """Decoded physical lines of a binary file, line endings kept (what ``csv.reader`` wants).

    Lines are split on the bytes, then decoded one by one: safe, because neither UTF-8
    multi-byte sequences nor Latin-1 ever contain ``\\n`` or ``\\r``. Memory is one chunk plus
    one line; a line over ``max_line_bytes`` is dropped and reported by ``OverlongLineError``
    (the iterator stays usable). ``latin1_lines`` counts lines that needed the fallback.
    """

    __slots__ = (
        "_at_start",
        "_carry",
        "_chunk_size",
        "_decoder",
        "_drop_lf",
        "_eof",
        "_file",
        "_lines",
        "_max_line_bytes",
        "encoding",
        "latin1_lines",
        "nul_at_start",
    )

    def __init__(
        self,
        binary_file: BinaryReadable,
        *,
        chunk_size: int = _CHUNK_SIZE,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._file = binary_file
        self._chunk_size = chunk_size
        self._max_line_bytes = max_line_bytes
        self._lines: list[bytes] = []  # complete lines, last first: pop() is O(1)
        self._carry = b""  # the unfinished line at the end of the last chunk
        self._eof = False
        self._at_start = True
        self._drop_lf = False  # a dropped overlong line ended in "\r" at a chunk's end
        # UTF-16/32 (named by a byte-order mark) is re-encoded as UTF-8 as it is read, so
        # lines split on "\n" bytes as usual.
        self._decoder: codecs.IncrementalDecoder | None = None
        self.encoding: str | None = None  # what the byte-order mark named, if any
        self.nul_at_start = False
        self.latin1_lines = 0

    def __iter__(self) -> TextLines:
        return self

    def __next__(self) -> str:
        if not self._lines:
            self._fill()
        raw = self._lines.pop()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.latin1_lines += 1
            return raw.decode("latin-1")

    def readline(self) -> str:
        """The next line, or ``""`` at end of file (the ``TextIO`` convention)."""
        try:
            return next(self)
        except StopIteration:
            return ""

    def _read(self) -> bytes:
        """The next chunk as UTF-8 or 8-bit bytes (``b""`` at end of file), minus a leading
        BOM or a pending LF."""
        while True:
            chunk = self._file.read(self._chunk_size)
            if not chunk:
                if self._decoder is None:
                    break
                # A truncated last code unit becomes U+FFFD rather than vanishing.
                chunk = self._decoder.decode(b"", final=True).encode("utf-8")
                self._decoder = None
                if not chunk:
                    break
            elif self._at_start:
                chunk = self._start(chunk)
            elif self._decoder is not None:
                chunk = self._decoder.decode(chunk).encode("utf-8")
            if self._drop_lf and chunk:
                self._drop_lf = False
                chunk = chunk.removeprefix(b"\n")
            if chunk:
                return chunk
        self._eof = True
        return b""

    def _start(self, chunk: bytes) -> bytes:
        """The first chunk, minus its byte-order mark (which picks the decoder), or
        ``EncodingError`` when its first line has NUL bytes."""
        while len(chunk) < _BOM_BYTES and (more := self._file.read(_BOM_BYTES - len(chunk))):
            chunk += more  # a BOM may straddle tiny reads
        self._at_start = False
        self.nul_at_start = b"\x00" in chunk
        for bom, encoding in _BOMS:
            if chunk.startswith(bom):
                self.encoding = encoding
                chunk = chunk[len(bom) :]
                if encoding == "utf-8":
                    return chunk
                self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
                return self._decoder.decode(chunk).encode("utf-8")
        end = chunk.find(b"\n")
        first_line = chunk[:end] if end >= 0 else chunk
        if b"\x00" in first_line:
            raise _encoding_error(first_line)
        return chunk

    def not_text_error(self) -> EncodingError | None:
        """For a header that made no sense: the error to give instead when the file's first
        chunk had NUL bytes — binary data, not a CSV with the wrong columns."""
        return EncodingError(_NOT_TEXT) if self.nul_at_start and self.encoding is None else None

    def _fill(self) -> None:
        """Refill ``_lines`` with the next complete lines; ``StopIteration`` at end of file."""
        parts = [self._carry]
        size = len(self._carry)
        while not self._eof:
            chunk = self._read()
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
            if b"\n" in chunk or b"\r" in chunk:
                lines = b"".join(parts).splitlines(keepends=True)
                # A last line without "\n" is unfinished (a lone "\r" may be half of "\r\n").
                self._carry = b"" if lines[-1].endswith(b"\n") else lines.pop()
                if lines:
                    lines.reverse()
                    self._lines = lines
                    return
                parts = [self._carry]
                size = len(self._carry)
            if size > self._max_line_bytes:
                self._discard_rest_of_line()
                raise OverlongLineError(self._max_line_bytes)
        self._carry = b""
        lines = b"".join(parts).splitlines(keepends=True)
        if not lines:
            raise StopIteration
        lines.reverse()
        self._lines = lines

    def _discard_rest_of_line(self) -> None:
        """Skip bytes up to and including the next line end, keeping what follows it."""
        self._carry = b""
        while chunk := self._read():
            ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
            if not ends:
                continue
            end = min(ends)
            if chunk[end : end + 2] == b"\r\n":
                end += 1
            elif end == len(chunk) - 1 and chunk[end:] == b"\r":
                self._drop_lf = True
            self._carry = chunk[end + 1 :]
            return


def open_text_stream(
    binary_file: BinaryReadable, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> TextLines:
    """Read a binary upload as text lines: UTF-8 (BOM or not), Latin-1 fallback per line."""
    return TextLines(binary_file, max_line_bytes=max_line_bytes)


# --- record framing -----------------------------------------------------------------------


class _QuotedFieldOverflow(Exception):
    """Raised into ``csv.reader`` to stop a quoted field before it eats unbounded memory."""


class _RecordFeed:
    """Hands ``csv.reader`` one line at a time while tracking what the reader cannot tell us.

    ``csv.reader`` never reads past the end of a record, so between two records this feed knows
    exactly which lines the record used. Counting ``"`` per line (parity) tells whether a quoted
    field is open and on which line it opened, which gives error line numbers, lets a skipped
    oversize field be passed over up to its closing quote, and bounds memory when a quote never
    closes. Lines read while a quote is open are kept (``_continuation``) so that, if the quote
    turns out to be unclosed, they can be replayed as records of their own.
    """

    __slots__ = (
        "_continuation",
        "_quote_budget",
        "_replay",
        "_source",
        "_source_line_no",
        "has_nul",
        "hit_eof",
        "in_quote",
        "line_no",
        "open_at_line_start",
        "quote_chars",
        "quote_line",
        "record_chars",
        "start_line",
    )

    def __init__(self, source: Iterator[str], *, quote_budget: int) -> None:
        self._source = source
        self._source_line_no = 0
        self._replay: list[tuple[int, str]] = []  # lines to hand out again, last first
        self._continuation: list[tuple[int, str]] = []
        self._quote_budget = quote_budget
        self.line_no = 0  # the line last handed out
        self.start_line = 1  # where the current record starts
        self.in_quote = False
        self.quote_line = 0  # where the open quoted field opened
        self.open_at_line_start = 0  # quote_line as it was before the last line (0: none open)
        self.quote_chars = 0
        self.record_chars = 0
        self.has_nul = False
        self.hit_eof = False

    def begin_record(self) -> None:
        """Call before asking the reader for a record; resets the per-record state."""
        self.start_line = self._replay[-1][0] if self._replay else self._source_line_no + 1
        self.in_quote = False
        self.record_chars = 0
        self.has_nul = False
        self.hit_eof = False
        if self._continuation:
            self._continuation = []

    def __iter__(self) -> _RecordFeed:
        return self

    def __next__(self) -> str:
        if self._replay:
            self.line_no, line = self._replay.pop()
        else:  # _pull() inlined: this runs once per physical line
            try:
                line = next(self._source)
            except StopIteration:
                self.hit_eof = True
                raise
            except OverlongLineError:
                self._source_line_no += 1
                self.line_no = self._source_line_no
                raise
            self._source_line_no += 1
            self.line_no = self._source_line_no
        self.record_chars += len(line)
        if self.in_quote:
            self.open_at_line_start = self.quote_line
            self._continuation.append((self.line_no, line))
        else:
            self.open_at_line_start = 0
        quotes = line.count('"')
        if quotes:
            if quotes & 1:
                self.in_quote = not self.in_quote
            if self.in_quote:  # the last quote of this line opened a field
                self.quote_line = self.line_no
                self.quote_chars = len(line) - line.rfind('"') - 1
        elif self.in_quote:
            self.quote_chars += len(line)
        if self.in_quote and self.quote_chars > self._quote_budget:
            raise _QuotedFieldOverflow
        if "\x00" in line:
            self.has_nul = True
        return line

    def _pull(self) -> str:
        if self._replay:
            self.line_no, line = self._replay.pop()
            return line
        try:
            line = next(self._source)
        except StopIteration:
            self.hit_eof = True
            raise
        except OverlongLineError:
            self._source_line_no += 1
            self.line_no = self._source_line_no
            raise
        self._source_line_no += 1
        self.line_no = self._source_line_no
        return line

    def skip_open_quote(self) -> bool:
        """Discard lines until the open quoted field closes; False if the file ends first."""
        while self.in_quote:
            try:
                line = self._pull()
            except StopIteration:
                return False
            except OverlongLineError:
                continue
            if line.count('"') & 1:
                self.in_quote = False
        return True

    def replay_after(self, line_no: int) -> None:
        """Hand out again the lines of this record that came after ``line_no``."""
        again = [item for item in self._continuation if item[0] > line_no]
        again.reverse()
        self._replay.extend(again)
        self._continuation = []


# --- field conversion ---------------------------------------------------------------------


class _Invalid(Exception):
    """A field's value is unacceptable; the message is the user-facing reason."""


_SENTIMENTS: Final = {"positive": "Positive", "neutral": "Neutral", "negative": "Negative"}
_BOOLEANS: Final = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
}
_RATINGS: Final = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
_ZERO: Final = Decimal(0)
# numeric(12, 4) holds 8 digits before the point; PostgreSQL rounds the rest half up.
_MONEY_LIMIT: Final = Decimal("99999999.99995")
_EDGE_YEARS: Final = frozenset({1, 9999})
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET


def _show(text: str) -> str:
    """The offending value for a reason message, kept short."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _datetime(raw: str) -> datetime:
    text = raw.strip()
    if not text:
        raise _Invalid("is required")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid(
            f"not a date-time (ISO 8601 or YYYY-MM-DD HH:MM:SS): {_show(text)}"
        ) from None
    if value.tzinfo is not None:
        if value.year in _EDGE_YEARS:  # an offset may push it out of Python's range in UTC
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise _Invalid(f"out of range (years 1-9999 in UTC): {_show(text)}") from None
        return value
    if len(text) > 10:  # naive means UTC; re-parsing with an offset is ~6x cheaper than .replace
        try:
            aware = datetime.fromisoformat(text + "+00:00")
        except ValueError:
            pass
        else:
            if aware.tzinfo is not None:
                return aware
    return value.replace(tzinfo=UTC)  # e.g. a bare date, which takes no offset


def _count(raw: str, maximum: int, empty: int | None) -> int:
    text = raw.strip()
    if text.isdigit() and text.isascii() and len(text) <= 19:
        value = int(text)
        if value <= maximum:
            return value
        raise _Invalid(f"too large (at most {maximum}): {_show(text)}")
    if not text:
        if empty is None:
            raise _Invalid("is required")
        return empty
    if text[0] == "-" and text[1:].isdigit():
        raise _Invalid(f"must not be negative: {_show(text)}")
    if text.isdigit() and text.isascii():
        raise _Invalid(f"too large (at most {maximum}): {_show(text)}")
    raise _Invalid(f"not a whole number: {_show(text)}")


def _boolean(raw: str) -> bool:
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        raise _Invalid(f"not a yes/no value (true/false, yes/no, y/n, 1/0): {_show(raw.strip())}")
    return value


def _seconds(raw: str) -> float | None:
    text = raw.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _Invalid(f"not a number of seconds: {_show(text)}") from None
    if not math.isfinite(value) or value < 0:
        raise _Invalid(f"must be a finite number >= 0: {_show(text)}")
    return value


def _money(raw: str) -> Decimal:
    text = raw.strip()
    if not text:
        return _ZERO
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Invalid(f"not a decimal amount: {_show(text)}") from None
    if not value.is_finite() or value < 0:
        raise _Invalid(f"must be a finite amount >= 0: {_show(text)}")
    if value >= _MONEY_LIMIT:
        raise _Invalid(f"too large (at most 99999999.9999): {_show(text)}")
    return value


def _ip_address(raw: str) -> str | None:
    """Validated like ``ipaddress.ip_address``; IPv4 takes a C fast path that accepts the same
    strings (dotted quad, no leading zeros), which matters at 100k+ rows/s."""
    text = raw.strip()
    if not text:
        return None
    try:
        _inet_pton(_AF_INET, text)
    except (OSError, ValueError):
        pass
    else:
        return text
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise _Invalid(f"not an IP address: {_show(text)}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise _Invalid(f"IPv6 zone ids are not supported: {_show(text)}")
    return str(address)


def _short_text(raw: str, limit: int) -> str:
    text = raw.strip()
    if len(text) > limit:
        raise _Invalid(f"longer than {limit} characters: {_show(text)}")
    return text


_Converter = Callable[[list[str], int], SessionRow | RowError | None]


def _make_converter(index: dict[str, int]) -> _Converter:
    """Build the per-row converter for one header layout (column positions bound once)."""
    i_session_id = index["session_id"]
    i_start_time = index["start_time"]
    i_end_time = index["end_time"]
    i_ip_address = index["ip_address"]
    i_country = index["country"]
    i_language = index["language"]
    i_messages_sent = index["messages_sent"]
    i_sentiment = index["sentiment"]
    i_escalated = index["escalated"]
    i_forwarded_hr = index["forwarded_hr"]
    i_full_transcript = index["full_transcript"]
    i_avg_response_time = index["avg_response_time"]
    i_tokens = index["tokens"]
    i_tokens_eur = index["tokens_eur"]
    i_category = index["category"]
    i_initial_msg = index["initial_msg"]
    i_user_rating = index["user_rating"]

    def convert(fields: list[str], line: int) -> SessionRow | RowError | None:
        """A ``SessionRow``, the ``RowError`` for the first bad column, or None if blank."""
        column = "session_id"
        try:
            session_id = fields[i_session_id].strip()
            if not session_id:
                if not any(field.strip() for field in fields):
                    return None  # ",,,,": a blank line as spreadsheets write it
                raise _Invalid("is required")
            if len(session_id) > 255:
                raise _Invalid(f"longer than 255 characters: {_show(session_id)}")
            column = "start_time"
            start_time = _datetime(fields[i_start_time])
            column = "end_time"
            end_time = _datetime(fields[i_end_time])
            if end_time < start_time:
                raise _Invalid(f"is before start_time: {_show(fields[i_end_time].strip())}")
            column = "ip_address"
            ip_address = _ip_address(fields[i_ip_address])
            column = "country"
            country = _short_text(fields[i_country], 64)
            column = "language"
            language = _short_text(fields[i_language], 16)
            column = "messages_sent"
            messages_sent = _count(fields[i_messages_sent], INT32_MAX, None)
            column = "sentiment"
            raw = fields[i_sentiment].strip()
            sentiment = _SENTIMENTS.get(raw.lower())
            if sentiment is None and raw:
                raise _Invalid(f"not Positive, Neutral or Negative: {_show(raw)}")
            column = "escalated"
            escalated = _boolean(fields[i_escalated])
            column = "forwarded_hr"
            forwarded_hr = _boolean(fields[i_forwarded_hr])
            column = "avg_response_time"
            avg_response_time = _seconds(fields[i_avg_response_time])
            column = "tokens"
            tokens = _count(fields[i_tokens], INT64_MAX, 0)
            column = "tokens_eur"
            tokens_eur = _money(fields[i_tokens_eur])
            column = "category"
            category = _short_text(fields[i_category], 64)
            column = "user_rating"
            raw = fields[i_user_rating].strip()
            user_rating = _RATINGS.get(raw)
            if user_rating is None and raw:
                raise _Invalid(f"not a whole number from 1 to 5: {_show(raw)}")
        except _Invalid as exc:
            return RowError(line, column, str(exc))
        return SessionRow(
            line,
            session_id,
            start_time,
            end_time,
            ip_address,
            country,
            language,
            messages_sent,
            sentiment,
            escalated,
            forwarded_hr,
            fields[i_full_transcript],
            avg_response_time,
            tokens,
            tokens_eur,
            category,
            fields[i_initial_msg],
            user_rating,
        )

    return convert


# --- the parser ---------------------------------------------------------------------------


def parse_sessions(
    binary_file: BinaryReadable,
    *,
    max_field_size: int = DEFAULT_MAX_FIELD_SIZE,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[SessionRow | RowError]:
    """Parse a chat-session CSV upload into ``SessionRow`` and ``RowError`` values, in file order.

    The header is read at once, so ``HeaderError`` (empty file, missing or duplicate columns)
    is raised by this call, before any row; everything after it is lazy. ``max_field_size`` is
    in characters; the process-wide ``csv.field_size_limit`` is raised to it if lower (never
    lowered), as csv offers no per-reader limit.
    """
    if max_field_size < 1:
        raise ValueError("max_field_size must be positive")
    if csv.field_size_limit() < max_field_size:
        csv.field_size_limit(max_field_size)
    # A quoted field's raw text is at most twice its value ("" → "), so past twice the limit
    # it is certainly too large: that bounds memory even if the csv limit was set huge.
    text = open_text_stream(binary_file, max_line_bytes=max_line_bytes)
    feed = _RecordFeed(text, quote_budget=2 * max_field_size + 2)
    reader = csv.reader(feed, strict=True)
    try:
        names = _read_header(reader, feed)
    except HeaderError as exc:
        not_text = None if isinstance(exc, EncodingError) else text.not_text_error()
        if not_text is not None:
            raise not_text from exc
        raise
    return _records(reader, feed, names, max_field_size)


def _read_header(reader: Iterator[list[str]], feed: _RecordFeed) -> list[str]:
    """The normalised header names, after checking every contract column is there once."""
    while True:
        feed.begin_record()
        try:
            fields = next(reader)
        except StopIteration:
            raise HeaderError("empty file: no header row") from None
        except (csv.Error, OverlongLineError, _QuotedFieldOverflow) as exc:
            raise HeaderError(f"unreadable header row on line {feed.start_line}: {exc}") from exc
        if any(field.strip() for field in fields):
            break
    names = [field.strip().lstrip("\ufeff").strip().lower() for field in fields]
    present = set(names)
    missing = tuple(column for column in COLUMNS if column not in present)
    duplicates = tuple(c for c in COLUMNS if names.count(c) > 1)
    if missing or duplicates:
        problems = []
        if missing:
            problems.append("missing columns: " + ", ".join(missing))
        if duplicates:
            problems.append("duplicate columns: " + ", ".join(duplicates))
        message = "; ".join(problems)
        if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            message += " (the header has no commas: columns must be comma-separated)"
        raise HeaderError(message, missing=missing, duplicates=duplicates)
    return names


def _records(
    reader: Iterator[list[str]], feed: _RecordFeed, names: list[str], max_field_size: int
) -> Iterator[SessionRow | RowError]:
    convert = _make_converter({name: i for i, name in enumerate(names) if name in COLUMNS})
    width = len(names)
    begin_record = feed.begin_record
    while True:
        begin_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except (csv.Error, OverlongLineError, _QuotedFieldOverflow) as exc:
            yield _recover(feed, exc, max_field_size)
            continue
        line = feed.start_line
        if len(fields) != width:
            if any(field.strip() for field in fields):
                yield _width_error(feed, width, len(fields))
            continue  # a blank line
        if feed.has_nul:
            column = next(names[i] for i, field in enumerate(fields) if "\x00" in field)
            yield RowError(line, column, "contains a NUL character")
            continue
        if feed.record_chars > max_field_size:
            sizes = [len(field) for field in fields]
            if max(sizes) > max_field_size:
                column = names[sizes.index(max(sizes))]
                yield RowError(line, column, f"longer than {max_field_size} characters")
                continue
        result = convert(fields, line)
        if result is not None:
            yield result


def _width_error(feed: _RecordFeed, width: int, found: int) -> RowError:
    reason = f"expected {width} fields, found {found}"
    if feed.line_no > feed.start_line:
        reason += f" (the record runs from line {feed.start_line} to {feed.line_no}: check quotes)"
    return RowError(feed.start_line, None, reason)


def _recover(feed: _RecordFeed, exc: Exception, max_field_size: int) -> RowError:
    """Report a record the csv reader could not split, and resynchronise the feed.

    After an error the reader starts afresh on the next line it is given; the feed decides
    which line that is: past the end of an oversize quoted field, or back to the lines an
    unclosed quote swallowed.
    """
    last = feed.line_no
    if isinstance(exc, OverlongLineError):
        return RowError(last, None, str(exc))
    if isinstance(exc, _QuotedFieldOverflow) or str(exc).startswith("field larger than"):
        first = feed.quote_line if feed.in_quote else feed.start_line
        if feed.skip_open_quote():
            span = f" (lines {first}-{feed.line_no} skipped)" if feed.line_no > first else ""
            return RowError(
                first, None, f"a field is longer than {max_field_size} characters{span}"
            )
        return RowError(
            first,
            None,
            f"quoted field longer than {max_field_size} characters that never closes: "
            f"lines {first}-{feed.line_no} (end of file) skipped",
        )
    if feed.hit_eof and feed.in_quote:
        opened = feed.quote_line
        feed.replay_after(opened)
        return RowError(opened, None, "unclosed quote: the quoted field opened here never ends")
    opened = feed.open_at_line_start
    if opened:
        feed.replay_after(opened)
        return RowError(
            opened,
            None,
            f"unclosed quote: the quoted field opened here runs into line {last}",
        )
    where = f" on line {last}" if last != feed.start_line else ""
    if str(exc).startswith("',' expected after"):
        reason = f"bad quoting{where}: a closing quote must be followed by a comma or line end"
    else:
        reason = f"unreadable CSV{where}: {exc}"
    return RowError(feed.start_line, None, reason)
