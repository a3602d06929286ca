"""Spreadsheet-safe CSV cells and chunked CSV text (analytics.exports), shared by exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from analytics.exports import ROWS_PER_CHUNK, csv_chunks, format_cell, safe_cell


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_a_spreadsheet_would_evaluate_become_text(prefix: str) -> None:
    assert safe_cell(f"{prefix}SUM(A1:A9)") == f"'{prefix}SUM(A1:A9)"


@pytest.mark.parametrize("text", ["", "plain", "a=b", " =padded", "'quoted", "\n=next line"])
def test_other_cells_are_unchanged(text: str) -> None:
    assert safe_cell(text) == text


def test_values_are_formatted_for_the_import_format() -> None:
    moment = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
    assert format_cell(None) == ""
    assert (format_cell(True), format_cell(False)) == ("true", "false")
    assert (format_cell(-3), format_cell(-0.5), format_cell(Decimal("-1.20"))) == (
        "-3",
        "-0.5",
        "-1.20",
    )  # numbers are data, not formulas
    assert format_cell(moment) == "2024-03-01T10:00:00+00:00"
    assert format_cell("=1+1") == "'=1+1"


def test_chunks_are_a_csv_document_with_a_header() -> None:
    rows = ([str(n), f"line {n}\nwith, comma"] for n in range(ROWS_PER_CHUNK * 2 + 3))
    chunks = list(csv_chunks(["id", "=text"], rows))
    assert len(chunks) == 3
    parsed = list(csv.reader(io.StringIO("".join(chunks))))
    assert parsed[0] == ["id", "'=text"]
    assert len(parsed) == ROWS_PER_CHUNK * 2 + 4
    assert parsed[-1] == [
        str(ROWS_PER_CHUNK * 2 + 2),
        f"line {ROWS_PER_CHUNK * 2 + 2}\nwith, comma",
    ]


def test_an_empty_export_is_just_the_header() -> None:
    assert "".join(csv_chunks(["a", "b"], [])) == "a,b\r\n"
