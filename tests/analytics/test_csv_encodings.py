"""CSV files as spreadsheets save them: UTF-8 with or without a byte-order mark, UTF-16 and
UTF-32 (Excel's "Unicode text") with one, Latin-1. Every file that says its encoding imports;
one that does not, and is no UTF-8 or Latin-1 either, fails naming what it looks like."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable

import pytest

from analytics.csv_parser import HeaderError, SessionRow, TextLines, parse_sessions
from analytics.importer import run_import
from analytics.models import ChatSession, DataSource
from routing_service.tenancy.models import Company
from tests.analytics.conftest import csv_text, sessions

# A transcript over two lines, with text outside Latin-1 and outside the BMP.
TRANSCRIPT = "Grüße, 東京\nüber 👋 café"
TEXT = csv_text(
    [
        {"session_id": "S1", "country": "Zürich", "full_transcript": TRANSCRIPT},
        {"session_id": "S2"},
    ]
)

WITH_BOM: dict[str, Callable[[str], bytes]] = {
    "utf-8-bom": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    "utf-16-le-bom": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be-bom": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-32-le-bom": lambda text: codecs.BOM_UTF32_LE + text.encode("utf-32-le"),
    "utf-32-be-bom": lambda text: codecs.BOM_UTF32_BE + text.encode("utf-32-be"),
}


def parse(data: bytes) -> list[object]:
    return list(parse_sessions(io.BytesIO(data)))


@pytest.mark.parametrize("encoding", list(WITH_BOM))
def test_a_file_with_a_byte_order_mark_parses_in_its_encoding(encoding: str) -> None:
    items = parse(WITH_BOM[encoding](TEXT))

    assert [type(item) for item in items] == [SessionRow, SessionRow]
    first, second = items
    assert isinstance(first, SessionRow) and isinstance(second, SessionRow)
    assert (first.session_id, first.country, first.full_transcript) == ("S1", "Zürich", TRANSCRIPT)
    assert (first.line, second.line) == (2, 4)  # physical lines, as in the UTF-8 file


@pytest.mark.parametrize("encoding", ["utf-16-le-bom", "utf-16-be-bom", "utf-32-le-bom"])
@pytest.mark.parametrize("chunk_size", [1, 3, 5, 4096])
def test_text_lines_decode_utf16_and_utf32_split_anywhere(encoding: str, chunk_size: int) -> None:
    """Chunks may end inside a code unit, a surrogate pair, or between "\\r" and "\\n"."""
    lines = list(TextLines(io.BytesIO(WITH_BOM[encoding](TEXT)), chunk_size=chunk_size))

    assert "".join(lines) == TEXT
    assert lines == TEXT.splitlines(keepends=True)


@pytest.mark.parametrize(
    ("codec", "named"), [("utf-16-le", "UTF-16-LE"), ("utf-16-be", "UTF-16-BE")]
)
def test_utf16_without_a_byte_order_mark_fails_naming_the_encoding(codec: str, named: str) -> None:
    with pytest.raises(HeaderError, match=f"{named}.*without a byte-order mark"):
        parse(TEXT.encode(codec))


def test_a_binary_file_fails_as_not_text_rather_than_missing_columns() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00"
    with pytest.raises(HeaderError, match="not a text file"):
        parse(png)


def test_a_nul_inside_a_row_still_rejects_only_that_row() -> None:
    """NUL bytes past the header are a bad row (as before), not a guess at the encoding."""
    bad_row = csv_text(sessions("S3", country="\x00")).split("\n", 1)[1]
    items = parse(TEXT.encode() + bad_row.encode())

    assert [type(item).__name__ for item in items] == ["SessionRow", "SessionRow", "RowError"]
    assert "NUL" in getattr(items[2], "reason", "")


@pytest.mark.parametrize("encoding", ["utf-16-le-bom", "utf-16-be-bom"])
def test_a_utf16_upload_is_imported(
    upload: Callable[..., DataSource], company_a: Company, encoding: str
) -> None:
    source = upload(company_a, WITH_BOM[encoding](TEXT))

    run_import(source.pk)

    source.refresh_from_db()
    assert (source.status, source.rows_imported, source.error) == ("done", 2, "")
    stored = ChatSession.objects.for_company(company_a).get(session_id="S1")
    assert stored.full_transcript == TRANSCRIPT
    assert source.bytes_processed == len(WITH_BOM[encoding](TEXT))


def test_a_utf16_upload_without_a_byte_order_mark_fails_naming_the_encoding(
    upload: Callable[..., DataSource], company_a: Company
) -> None:
    source = upload(company_a, TEXT.encode("utf-16-le"))

    run_import(source.pk)

    source.refresh_from_db()
    assert source.status == "failed"
    assert "UTF-16-LE" in source.error
    assert "missing columns" not in source.error
