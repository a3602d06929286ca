"""The chat-session CSV parser: typed rows, one RowError per bad record, physical line numbers,
recovery from broken quoting, encodings, and streaming. Pure: no database, no Django."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.csv_parser import (
    COLUMNS,
    HeaderError,
    OverlongLineError,
    RowError,
    SessionRow,
    TextLines,
    open_text_stream,
    parse_sessions,
)

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


def row(newline: str = "\n", **overrides: str) -> str:
    """One record as a CSV writer would write it (quoted where needed), ending in ``newline``."""
    values = {**GOOD, **overrides}
    values["full_transcript"] = values["full_transcript"].replace("\n", newline)
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerow([values[c] for c in COLUMNS])
    return out.getvalue()


def header(newline: str = "\n") -> str:
    return ",".join(COLUMNS) + newline


def parse(text: str | bytes, **kwargs: Any) -> list[SessionRow | RowError]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return list(parse_sessions(io.BytesIO(data), **kwargs))


def rows_of(items: list[SessionRow | RowError]) -> list[tuple[int, str]]:
    return [(item.line, item.session_id) for item in items if isinstance(item, SessionRow)]


def errors_of(items: list[SessionRow | RowError]) -> list[tuple[int, str | None, str]]:
    return [(item.line, item.column, item.reason) for item in items if isinstance(item, RowError)]


@pytest.fixture
def csv_field_limit() -> Iterator[None]:
    """csv.field_size_limit is process-wide: restore it after tests that change it."""
    before = csv.field_size_limit()
    yield
    csv.field_size_limit(before)


# --- typed fields ----------------------------------------------------------------------------


def test_typical_row_becomes_typed_session() -> None:
    [item] = parse(header() + row(full_transcript="Agent: Hello\nClient: Hi"))

    assert item == SessionRow(
        line=2,
        session_id="S1",
        start_time=datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        end_time=datetime(2024, 3, 1, 10, 30, tzinfo=UTC),
        ip_address="192.168.1.20",
        country="DE",
        language="de",
        messages_sent=12,
        sentiment="Positive",
        escalated=False,
        forwarded_hr=False,
        full_transcript="Agent: Hello\nClient: Hi",
        avg_response_time=4.5,
        tokens=1200,
        tokens_eur=Decimal("0.0240"),
        category="billing",
        initial_msg="Hi",
        user_rating=4,
    )


def test_empty_optional_fields_get_their_defaults() -> None:
    text = header() + row(
        ip_address="",
        sentiment="",
        avg_response_time="",
        tokens="",
        tokens_eur="",
        user_rating="",
        country="",
        category="",
    )
    [item] = parse(text)

    assert isinstance(item, SessionRow)
    assert item.ip_address is None
    assert item.sentiment is None
    assert item.avg_response_time is None
    assert item.tokens == 0
    assert item.tokens_eur == Decimal(0)
    assert item.user_rating is None
    assert item.country == ""


@pytest.mark.parametrize(
    ("column", "raw", "expected"),
    [
        ("sentiment", " nEgAtIvE ", "Negative"),
        ("sentiment", "NEUTRAL", "Neutral"),
        ("escalated", "YES", True),
        ("escalated", "y", True),
        ("escalated", "1", True),
        ("escalated", "True", True),
        ("escalated", "N", False),
        ("escalated", "0", False),
        ("forwarded_hr", " no ", False),
        ("ip_address", "2001:DB8:0:0::1", "2001:db8::1"),
        ("ip_address", " 10.0.0.1 ", "10.0.0.1"),
        ("start_time", "2024-03-01T09:00:00+01:00", datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
        ("start_time", "2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, 0, tzinfo=UTC)),
        ("start_time", "2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
        ("messages_sent", "0", 0),
        ("messages_sent", str(2**31 - 1), 2**31 - 1),
        ("tokens", "9223372036854775807", 2**63 - 1),
        ("avg_response_time", "0", 0.0),
        ("avg_response_time", "1e2", 100.0),
        ("tokens_eur", "12.345678", Decimal("12.345678")),
        ("user_rating", "5", 5),
        ("session_id", "  abc  ", "abc"),
    ],
)
def test_field_values_are_normalised(column: str, raw: str, expected: object) -> None:
    [item] = parse(header() + row(**{column: raw}))

    assert isinstance(item, SessionRow), item
    assert getattr(item, column) == expected


def test_offsets_are_kept_and_naive_times_are_utc() -> None:
    [item] = parse(
        header() + row(start_time="2024-03-01 10:00:00", end_time="2024-03-01T12:00:00+02:00")
    )

    assert isinstance(item, SessionRow)
    assert item.start_time.tzinfo is UTC
    assert item.end_time.utcoffset() == timedelta(hours=2)
    assert item.end_time.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("column", "raw", "reason"),
    [
        ("session_id", "", "is required"),
        ("session_id", "x" * 256, "longer than 255 characters: 'xxxxx"),
        ("start_time", "", "is required"),
        ("start_time", "01/03/2024 10:00", "not a date-time"),
        ("end_time", "2024-03-01 25:00:00", "not a date-time"),
        ("ip_address", "999.1.1.1", "not an IP address: '999.1.1.1'"),
        ("ip_address", "01.2.3.4", "not an IP address"),
        ("ip_address", "fe80::1%eth0", "IPv6 zone ids are not supported"),
        ("country", "x" * 65, "longer than 64 characters"),
        ("language", "x" * 17, "longer than 16 characters"),
        ("messages_sent", "", "is required"),
        ("messages_sent", "-3", "must not be negative: '-3'"),
        ("messages_sent", "3.0", "not a whole number: '3.0'"),
        ("messages_sent", "١٢", "not a whole number"),
        ("messages_sent", str(2**31), "too large (at most 2147483647)"),
        ("messages_sent", "9" * 5000, "too large"),
        ("sentiment", "Happy", "not Positive, Neutral or Negative: 'Happy'"),
        ("escalated", "", "not a yes/no value"),
        ("escalated", "maybe", "not a yes/no value (true/false, yes/no, y/n, 1/0): 'maybe'"),
        ("forwarded_hr", "t", "not a yes/no value"),
        ("avg_response_time", "fast", "not a number of seconds: 'fast'"),
        ("avg_response_time", "-1", "must be a finite number >= 0"),
        ("avg_response_time", "nan", "must be a finite number >= 0"),
        ("avg_response_time", "inf", "must be a finite number >= 0"),
        ("tokens", "1,200", "not a whole number: '1,200'"),
        ("tokens_eur", "€1", "not a decimal amount"),
        ("tokens_eur", "-0.01", "must be a finite amount >= 0"),
        ("tokens_eur", "NaN", "must be a finite amount >= 0"),
        ("user_rating", "0", "not a whole number from 1 to 5: '0'"),
        ("user_rating", "6", "not a whole number from 1 to 5"),
        ("user_rating", "4.5", "not a whole number from 1 to 5"),
    ],
)
def test_bad_value_is_reported_with_its_column(column: str, raw: str, reason: str) -> None:
    [item] = parse(header() + row(**{column: raw}))

    assert isinstance(item, RowError)
    assert (item.line, item.column) == (2, column)
    assert item.reason.startswith(reason)


def test_end_before_start_is_an_end_time_error() -> None:
    [item] = parse(header() + row(end_time="2024-03-01 09:59:59"))

    assert item == RowError(2, "end_time", "is before start_time: '2024-03-01 09:59:59'")


def test_only_the_first_problem_of_a_row_is_reported_in_contract_order() -> None:
    # user_rating comes first in this file, but the contract order puts messages_sent first.
    columns = ["user_rating", *[c for c in COLUMNS if c != "user_rating"]]
    values = {**GOOD, "user_rating": "9", "messages_sent": "many"}
    text = ",".join(columns) + "\n" + ",".join(f'"{values[c]}"' for c in columns) + "\n"

    assert errors_of(parse(text)) == [(2, "messages_sent", "not a whole number: 'many'")]


# --- the header ------------------------------------------------------------------------------


def test_header_is_case_insensitive_trimmed_order_free_and_ignores_unknown_columns() -> None:
    columns = list(reversed(COLUMNS))
    head = ",".join(f"  {c.upper()} " for c in columns) + ",Notes\n"
    body = ",".join(f'"{GOOD[c]}"' for c in columns) + ",whatever\n"

    [item] = parse(head + body)

    assert isinstance(item, SessionRow)
    assert item.full_transcript == GOOD["full_transcript"]
    assert item.user_rating == 4


def test_missing_columns_raise_header_error_naming_them() -> None:
    head = ",".join(c for c in COLUMNS if c not in {"tokens_eur", "country"})

    with pytest.raises(HeaderError, match="missing columns: country, tokens_eur") as caught:
        parse_sessions(io.BytesIO(head.encode() + b"\n"))

    assert caught.value.missing == ("country", "tokens_eur")


def test_duplicate_columns_raise_header_error() -> None:
    head = header().rstrip("\n") + ",Session_ID\n"

    with pytest.raises(HeaderError, match="duplicate columns: session_id") as caught:
        parse(head)

    assert caught.value.duplicates == ("session_id",)


@pytest.mark.parametrize("content", [b"", b"\n\r\n  \n", b"\xef\xbb\xbf"])
def test_empty_file_raises_header_error(content: bytes) -> None:
    with pytest.raises(HeaderError, match="empty file"):
        parse(content)


def test_semicolon_separated_header_gets_a_hint() -> None:
    with pytest.raises(HeaderError, match="columns must be comma-separated"):
        parse(";".join(COLUMNS) + "\n")


def test_header_error_is_raised_by_the_call_before_any_row_is_requested() -> None:
    with pytest.raises(HeaderError):
        parse_sessions(io.BytesIO(b"session_id\nS1\n"))


def test_header_only_file_yields_nothing() -> None:
    assert parse(header()) == []


# --- the bad-rows file -----------------------------------------------------------------------


@pytest.mark.parametrize("nl", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_every_kind_of_bad_row_is_reported_and_every_good_row_kept(nl: str) -> None:
    big = ("x" * 150 + "\n") * 2 + "x" * 150
    lines = [
        header(nl),  # 1
        row(nl, session_id="S1"),  # 2
        row(nl, session_id="S2", start_time="2024-02-30 10:00:00"),  # 3: no such day
        row(nl, session_id="S3", end_time="2024-03-01 09:00:00"),  # 4: end before start
        row(nl, session_id="S4", messages_sent="twelve"),  # 5
        row(nl, session_id="S5", sentiment="Happy"),  # 6
        row(nl, session_id="S6", escalated="maybe"),  # 7
        nl,  # 8: blank line
        "S7,2024-03-01 10:00:00" + nl,  # 9: too few columns
        row(nl, session_id="S8", full_transcript="a\nb").rstrip(nl) + ",extra" + nl,  # 10-11
        row(nl, session_id="S9", full_transcript="Agent: Hello\nClient: Hi"),  # 12-13
        "," * 16 + nl,  # 14: a spreadsheet's blank row
        row(nl, session_id="S10", full_transcript=big),  # 15-17: field over the limit
        row(nl, session_id="S11", full_transcript="one line"),  # 18
        row(nl, session_id="S12", full_transcript='bad "quote" here').replace(  # 19
            '"bad ""quote"" here"', '"bad "quote" here"'
        ),
        row(nl, session_id="S13", full_transcript="Hi\nthere"),  # 20-21
        row(nl, session_id="S14", full_transcript="single").replace(",single,", ',"single,'),
        row(nl, session_id="S15", full_transcript="after"),  # 23
        row(nl, session_id="S16", full_transcript="last"),  # 24
    ]

    items = parse("".join(lines), max_field_size=200)

    assert errors_of(items) == [
        (
            3,
            "start_time",
            "not a date-time (ISO 8601 or YYYY-MM-DD HH:MM:SS): '2024-02-30 10:00:00'",
        ),
        (4, "end_time", "is before start_time: '2024-03-01 09:00:00'"),
        (5, "messages_sent", "not a whole number: 'twelve'"),
        (6, "sentiment", "not Positive, Neutral or Negative: 'Happy'"),
        (7, "escalated", "not a yes/no value (true/false, yes/no, y/n, 1/0): 'maybe'"),
        (9, None, "expected 17 fields, found 2"),
        (
            10,
            None,
            "expected 17 fields, found 18 (the record runs from line 10 to 11: check quotes)",
        ),
        (15, "full_transcript", "longer than 200 characters"),
        (19, None, "bad quoting: a closing quote must be followed by a comma or line end"),
        (22, None, "unclosed quote: the quoted field opened here never ends"),
    ]
    assert rows_of(items) == [
        (2, "S1"),
        (12, "S9"),
        (18, "S11"),
        (20, "S13"),
        (23, "S15"),
        (24, "S16"),
    ]
    transcripts = [item.full_transcript for item in items if isinstance(item, SessionRow)]
    assert transcripts[1] == f"Agent: Hello{nl}Client: Hi"  # CRLF inside a field is data


# --- broken quoting ----------------------------------------------------------------------------


def test_unclosed_quote_before_a_quoted_row_costs_only_its_own_row() -> None:
    text = (
        header()  # 1
        + row(session_id="A", full_transcript="Hi\nthere")  # 2-3
        + row(session_id="B", full_transcript="x").replace(",x,", ',"never closed,')  # 4
        + row(session_id="C", full_transcript="plain")  # 5
        + row(session_id="D", full_transcript="Agent\nClient")  # 6-7: its first quote ends
        + row(session_id="E", full_transcript="Hi\nthere")  # 8-9   B's field, "A" follows
    )

    items = parse(text)

    assert errors_of(items) == [
        (4, None, "unclosed quote: the quoted field opened here runs into line 6")
    ]
    assert rows_of(items) == [(2, "A"), (5, "C"), (6, "D"), (8, "E")]


def test_unclosed_quote_swallowing_more_than_the_field_limit_is_reported_where_it_opened() -> None:
    plain = [row(session_id=f"P{n}", full_transcript="plain") for n in range(20)]
    text = (
        header()
        + row(session_id="A", full_transcript="Hi\nthere")  # 2-3
        + row(session_id="B", full_transcript="x").replace(",x,", ',"never closed,')  # 4
        + "".join(plain)  # 5-24: no quotes at all, so the quote never closes
    )

    items = parse(text, max_field_size=300)

    assert rows_of(items) == [(2, "A")]
    assert errors_of(items) == [
        (
            4,
            None,
            "quoted field longer than 300 characters that never closes: "
            "lines 4-24 (end of file) skipped",
        )
    ]


@pytest.mark.usefixtures("csv_field_limit")
@pytest.mark.parametrize("csv_limit", [100, 10**9], ids=["csv-limit-hit", "own-budget-hit"])
def test_oversize_quoted_field_is_skipped_to_its_closing_quote(csv_limit: int) -> None:
    csv.field_size_limit(csv_limit)
    huge = "\n".join(["y" * 60] * 6)  # 6 lines, 365 characters
    text = (
        header()  # 1
        + row(session_id="A", full_transcript="a")  # 2
        + row(session_id="B", full_transcript=huge)  # 3-8
        + row(session_id="C", full_transcript="c")  # 9
    )

    items = parse(text, max_field_size=100)

    assert errors_of(items) == [
        (3, None, "a field is longer than 100 characters (lines 3-8 skipped)")
    ]
    assert rows_of(items) == [(2, "A"), (9, "C")]


@pytest.mark.usefixtures("csv_field_limit")
def test_oversize_unquoted_field_rejects_its_line_only() -> None:
    csv.field_size_limit(100)
    text = (
        header()
        + row(session_id="A", full_transcript="a")
        + row(session_id="B", full_transcript="z" * 150)
        + row(session_id="C", full_transcript="c")
    )

    items = parse(text, max_field_size=100)

    assert errors_of(items) == [(3, None, "a field is longer than 100 characters")]
    assert rows_of(items) == [(2, "A"), (4, "C")]


def test_max_field_size_above_the_csv_default_is_honoured(csv_field_limit: None) -> None:
    transcript = "t" * 200_000

    [item] = parse(header() + row(full_transcript=transcript), max_field_size=250_000)

    assert isinstance(item, SessionRow)
    assert item.full_transcript == transcript
    assert csv.field_size_limit() >= 250_000


def test_nul_character_rejects_its_row() -> None:
    items = parse(header() + row(session_id="A", category="bil\x00ling") + row(session_id="B"))

    assert errors_of(items) == [(2, "category", "contains a NUL character")]
    assert rows_of(items) == [(3, "B")]


def test_line_without_newline_over_the_byte_budget_is_dropped_and_parsing_goes_on() -> None:
    long_line = "L," + "x" * (3 * 1024 * 1024) + "\n"  # longer than one 1 MiB read chunk
    text = header() + row(session_id="A") + long_line + row(session_id="B")

    items = parse(text, max_line_bytes=1024 * 1024)

    assert errors_of(items) == [(3, None, "line longer than 1048576 bytes")]
    assert rows_of(items) == [(2, "A"), (4, "B")]


def test_last_row_without_trailing_newline_is_kept() -> None:
    assert rows_of(parse(header() + row(session_id="A").rstrip("\n"))) == [(2, "A")]


def test_lone_cr_line_endings_count_as_lines() -> None:
    text = (
        header("\r") + row("\r", session_id="A", full_transcript="one") + row("\r", session_id="B")
    )

    assert rows_of(parse(text)) == [(2, "A"), (3, "B")]


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
        max_size=60,
    ),
    # Python's writer does not quote a lone "\r" unless it is part of its line terminator.
    st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL)]),
)
def test_any_transcript_survives_a_csv_round_trip(
    transcript: str, dialect: tuple[str, Any]
) -> None:
    nl, quoting = dialect

    def line_of(values: dict[str, str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator=nl, quoting=quoting).writerow([values[c] for c in COLUMNS])
        return out.getvalue()

    first = line_of({**GOOD, "full_transcript": transcript})
    second = line_of({**GOOD, "full_transcript": transcript, "session_id": "S2"})

    items = parse(header(nl) + first + second)

    assert [type(item) for item in items] == [SessionRow, SessionRow]
    assert [item.full_transcript for item in items if isinstance(item, SessionRow)] == [
        transcript,
        transcript,
    ]
    physical_lines_of_first = len(io.StringIO(first, newline="").readlines())
    assert rows_of(items) == [(2, "S1"), (2 + physical_lines_of_first, "S2")]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([row(), row(full_transcript="a\nb"), '"', ",", "x", "\n", "\r\n", '""']),
        max_size=30,
    )
)
def test_any_mess_after_the_header_yields_in_order_and_never_raises(pieces: list[str]) -> None:
    text = header() + "".join(pieces)
    physical_lines = len(io.StringIO(text, newline="").readlines())

    items = parse(text, max_field_size=200)

    lines = [item.line for item in items]
    assert lines == sorted(lines)
    assert all(2 <= line <= physical_lines for line in lines)


# --- encodings and decoding ------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
        lambda text: text.encode("latin-1"),
    ],
    ids=["utf-8", "utf-8-bom", "latin-1"],
)
def test_utf8_with_or_without_bom_and_latin1_files_parse(encode: Any) -> None:
    text = header() + row(country="Zürich", full_transcript="Grüße,\ncafé") + row(session_id="S2")

    items = parse(encode(text))

    assert rows_of(items) == [(2, "S1"), (4, "S2")]
    first = items[0]
    assert isinstance(first, SessionRow)
    assert (first.country, first.full_transcript) == ("Zürich", "Grüße,\ncafé")


def test_invalid_utf8_late_in_the_file_falls_back_to_latin1_for_that_line_only() -> None:
    data = (
        header().encode()
        + row(session_id="A", country="Zürich").encode("utf-8")
        + b"".join(row(session_id=f"F{n}").encode() for n in range(1000))
        + row(session_id="Z", country="Genève").encode("latin-1")
    )

    items = parse(data)

    countries = {item.session_id: item.country for item in items if isinstance(item, SessionRow)}
    assert len(countries) == 1002
    assert (countries["A"], countries["Z"]) == ("Zürich", "Genève")


def test_text_lines_count_latin1_fallbacks_and_read_like_textio() -> None:
    lines = open_text_stream(io.BytesIO(b"caf\xc3\xa9\r\ncaf\xe9\rend"))

    assert lines.readline() == "café\r\n"
    assert list(lines) == ["café\r", "end"]
    assert lines.readline() == ""
    assert lines.latin1_lines == 1


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b",", b'"', b"\r", b"\n", b"\r\n", "é".encode()]), max_size=40),
    st.booleans(),
    st.integers(min_value=1, max_value=7),
)
def test_text_lines_split_like_open_newline_empty_at_any_chunk_size(
    pieces: list[bytes], bom: bool, chunk_size: int
) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(pieces)
    expected = list(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))

    assert list(TextLines(io.BytesIO(data), chunk_size=chunk_size)) == expected


def test_text_lines_drop_an_overlong_line_and_carry_on() -> None:
    data = b"short\n" + b"x" * 100 + b"\r\nnext\n"
    lines = TextLines(io.BytesIO(data), chunk_size=8, max_line_bytes=32)

    assert next(lines) == "short\n"
    with pytest.raises(OverlongLineError):
        next(lines)
    assert list(lines) == ["next\n"]


# --- volume and streaming --------------------------------------------------------------------


def _generated(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for n in range(rows):
        values = {**GOOD, "session_id": f"S{n:06d}", "messages_sent": str(n % 50)}
        writer.writerow([values[c] for c in COLUMNS])
    return out.getvalue().encode()


def test_fifty_thousand_rows_parse() -> None:
    items = parse(_generated(50_000))

    assert len(items) == 50_000
    assert all(isinstance(item, SessionRow) for item in items)
    assert items[-1].line == 50_001


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_parsing_streams_instead_of_reading_the_whole_file() -> None:
    data = _generated(40_000)  # about 8 MB
    upload = _CountingReader(data)

    first = next(parse_sessions(upload))

    assert isinstance(first, SessionRow)
    assert upload.bytes_read <= 2 * 1024 * 1024 < len(data)
