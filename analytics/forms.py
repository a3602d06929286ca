"""Forms of the analytics pages: CSV upload, dashboard settings, a date range.

The upload form checks what can be told at once (a file is there, looks like CSV text, is not
too big); what only reading it can tell (missing columns, bad rows) is the import report's job
(``analytics.importer``), shown on the data source's page.
"""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath
from typing import Any, Final

from django import forms
from django.core.files.uploadedfile import UploadedFile

from analytics.actions import NAME_MAX_LENGTH
from analytics.csv_parser import COLUMNS
from analytics.models import Dashboard, DataSource
from analytics.uploads import UploadTooLarge, check_file_size
from routing_service.tenancy.models import Company

__all__ = ["DashboardForm", "DateRangeForm", "UploadForm", "csv_problem"]

CSV_EXTENSIONS: Final = frozenset({".csv", ".txt"})
# Magic numbers of what people upload by mistake instead of CSV.
_BINARY_SIGNATURES: Final = {
    b"PK\x03\x04": "a ZIP archive or an Excel/OpenDocument workbook",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
}
_SNIFF_BYTES: Final = 8192
MAX_LAST_DAYS: Final = 3660


def csv_problem(upload: UploadedFile) -> str | None:
    """Why ``upload`` is plainly not a CSV text file, or None if it may be one.

    Judged by the name's extension and the first bytes (binary signatures, NUL bytes); the
    file is rewound afterwards.
    """
    name = upload.name or ""
    extension = PurePath(name).suffix.lower()
    head = upload.read(_SNIFF_BYTES)
    upload.seek(0)
    if isinstance(head, str):
        head = head.encode()
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            return (
                f"“{name}” is {what}, not a CSV file. Save or export it as CSV "
                "(comma-separated values, UTF-8) and upload that."
            )
    if b"\x00" in head:
        return (
            f"“{name}” is not a text file (it contains binary data). Upload a CSV file "
            "(comma-separated values, UTF-8)."
        )
    if extension not in CSV_EXTENSIONS:
        kind = f"a {extension} file" if extension else "a file without an extension"
        return f"“{name}” is {kind}; upload a .csv file (comma-separated values)."
    return None


class UploadForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        required=False,
        help_text="Optional; defaults to the file's name.",
    )
    file = forms.FileField(
        help_text="CSV with the columns: " + ", ".join(COLUMNS) + ".",
        error_messages={
            "required": "Choose a CSV file to upload.",
            "empty": "The file is empty.",
        },
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        try:
            check_file_size(upload)
        except UploadTooLarge as exc:
            raise forms.ValidationError(str(exc), code="too_large") from None
        problem = csv_problem(upload)
        if problem:
            raise forms.ValidationError(problem, code="not_csv")
        return upload


class DateInput(forms.DateInput):
    input_type = "date"


class DashboardForm(forms.ModelForm):
    data_sources = forms.ModelMultipleChoiceField(
        queryset=DataSource.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every uploaded file.",
    )

    class Meta:
        model = Dashboard
        fields = ["name", "data_sources", "include_live", "date_from", "date_to", "last_days"]
        labels = {
            "include_live": "Include live conversations",
            "date_from": "From",
            "date_to": "To",
            "last_days": "Otherwise, the last N days",
        }
        help_texts = {"date_from": "Leave both dates empty for a rolling window."}
        widgets = {"date_from": DateInput(), "date_to": DateInput()}

    def __init__(self, *args: Any, company: Company, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["data_sources"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = DataSource.objects.for_company(company).filter(kind=DataSource.Kind.CSV)
        last_days = self.fields["last_days"]
        assert isinstance(last_days, forms.IntegerField)
        last_days.min_value = 1
        last_days.max_value = MAX_LAST_DAYS
        last_days.validators.append(_last_days_range)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must not be before the start date.")
        return data


def _last_days_range(value: int) -> None:
    if not 1 <= value <= MAX_LAST_DAYS:
        raise forms.ValidationError(f"Between 1 and {MAX_LAST_DAYS} days.")


class DateRangeForm(forms.Form):
    """``?from=&to=`` on a dashboard: overrides its own window for one look."""

    date_from = forms.DateField(required=False, label="From", widget=DateInput())
    date_to = forms.DateField(required=False, label="To", widget=DateInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: dt.date | None = data.get("date_from")
        end: dt.date | None = data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must not be before the start date.")
        return data
