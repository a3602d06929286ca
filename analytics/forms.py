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
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _

from analytics.actions import NAME_MAX_LENGTH
from analytics.csv_parser import COLUMNS
from analytics.models import Dashboard, DataSource
from analytics.uploads import UploadTooLarge, check_file_size
from routing_service.tenancy.models import Company

__all__ = ["DashboardForm", "DateRangeForm", "UploadForm", "csv_problem"]

CSV_EXTENSIONS: Final = frozenset({".csv", ".txt"})
# Magic numbers of what people upload by mistake instead of CSV.
_BINARY_SIGNATURES: Final = {
    b"PK\x03\x04": gettext_lazy("a ZIP archive or an Excel/OpenDocument workbook"),
    b"\xd0\xcf\x11\xe0": gettext_lazy("an old Excel (.xls) workbook"),
    b"%PDF": gettext_lazy("a PDF document"),
    b"\x89PNG": gettext_lazy("a PNG image"),
    b"\xff\xd8\xff": gettext_lazy("a JPEG image"),
    b"\x1f\x8b": gettext_lazy("a gzip archive"),
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
            return gettext(
                "“%(name)s” is %(what)s, not a CSV file. Save or export it as CSV "
                "(comma-separated values, UTF-8) and upload that."
            ) % {"name": name, "what": what}
    if b"\x00" in head:
        return gettext(
            "“%(name)s” is not a text file (it contains binary data). Upload a CSV file "
            "(comma-separated values, UTF-8)."
        ) % {"name": name}
    if extension not in CSV_EXTENSIONS:
        if extension:
            return gettext(
                "“%(name)s” is a %(extension)s file; upload a .csv file (comma-separated values)."
            ) % {"name": name, "extension": extension}
        return gettext(
            "“%(name)s” is a file without an extension; upload a .csv file "
            "(comma-separated values)."
        ) % {"name": name}
    return None


class UploadForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=NAME_MAX_LENGTH,
        required=False,
        help_text=_("Optional; defaults to the file's name."),
    )
    file = forms.FileField(
        label=_("CSV file"),
        help_text=format_lazy(_("CSV with the columns: {columns}."), columns=", ".join(COLUMNS)),
        error_messages={
            "required": _("Choose a CSV file to upload."),
            "empty": _("The file is empty."),
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
    """The browser's date picker: its value is always ISO (2026-12-03), whatever the
    language; the picker shows it the reader's way."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class DashboardForm(forms.ModelForm):
    data_sources = forms.ModelMultipleChoiceField(
        queryset=DataSource.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Data sources"),
        help_text=_("None ticked: every uploaded file."),
    )

    class Meta:
        model = Dashboard
        fields = ["name", "data_sources", "include_live", "date_from", "date_to", "last_days"]
        labels = {
            "name": _("Name"),
            "include_live": _("Include live conversations"),
            "date_from": _("From"),
            "date_to": _("To"),
            "last_days": _("Otherwise, the last N days"),
        }
        help_texts = {"date_from": _("Leave both dates empty for a rolling window.")}
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
            self.add_error("date_to", gettext("Must not be before the start date."))
        return data


def _last_days_range(value: int) -> None:
    if not 1 <= value <= MAX_LAST_DAYS:
        raise forms.ValidationError(
            gettext("Between 1 and %(most)s days.") % {"most": MAX_LAST_DAYS}
        )


class DateRangeForm(forms.Form):
    """``?from=&to=`` on a dashboard: overrides its own window for one look."""

    date_from = forms.DateField(required=False, label=_("From"), widget=DateInput())
    date_to = forms.DateField(required=False, label=_("To"), widget=DateInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: dt.date | None = data.get("date_from")
        end: dt.date | None = data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", gettext("Must not be before the start date."))
        return data
