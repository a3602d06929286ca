"""The session filters shared by the API list, the CSV export and the analytics pages.

``SessionFilterSet(params, queryset=company_sessions).qs`` — or ``DjangoFilterBackend`` with
``filterset_class`` in DRF, which answers 400 with the field errors of a bad value. Dates are
days or date-times: ``date_from=2024-03-01`` starts at that day's midnight UTC and
``date_to=2024-03-31`` includes the whole day; a date-time without an offset is UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field

from analytics.models import ChatSession, Sentiment
from analytics.search import search_sessions
from routing_service.api.filters import IdFilter
from routing_service.chats.label_queries import labelled_conversation_ids

__all__ = ["SessionFilterSet"]


class DayOrMoment(forms.Field):
    """A calendar day (``YYYY-MM-DD``) or an ISO 8601 date-time; naive times are UTC."""

    default_error_messages = {
        "invalid": "Enter a date (YYYY-MM-DD) or an ISO 8601 date-time.",
    }

    def to_python(self, value: Any) -> dt.date | dt.datetime | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
            # In UTC: PostgreSQL takes offsets up to 15:59 only, Python up to 23:59; and a
            # moment that leaves years 1-9999 in UTC is no date either.
            return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        except (ValueError, OverflowError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


@extend_schema_field(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
)
class DayOrMomentFilter(django_filters.Filter):
    field_class = DayOrMoment


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class StrictBoolean(forms.Field):
    """``true``/``false`` (or 1/0, yes/no): anything else is an error, not "no filter"."""

    default_error_messages = {"invalid": "Enter true or false."}

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        result = _BOOLEANS.get(str(value).strip().lower())
        if result is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return result


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBoolean


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 5})
class _RatingFilter(django_filters.NumberFilter):
    """A rating bound: a whole number from 1 to 5, as ratings are."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, min_value=1, max_value=5, **kwargs)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


class SessionFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", label="Words in the first message or the transcript"
    )
    date_from = DayOrMomentFilter(method="filter_date_from", label="Started on or after")
    date_to = DayOrMomentFilter(method="filter_date_to", label="Started on or before")
    country = django_filters.CharFilter(lookup_expr="iexact")
    language = django_filters.CharFilter(lookup_expr="iexact")
    sentiment = django_filters.ChoiceFilter(choices=Sentiment.choices)
    category = django_filters.CharFilter(lookup_expr="iexact")
    escalated = StrictBooleanFilter()
    forwarded_hr = StrictBooleanFilter()
    rating_min = _RatingFilter(field_name="user_rating", lookup_expr="gte")
    rating_max = _RatingFilter(field_name="user_rating", lookup_expr="lte")
    data_source = IdFilter(field_name="data_source_id")
    label = django_filters.CharFilter(
        method="filter_label",
        max_length=64,
        label="Sessions of live chats with this label (by name; imported sessions have none)",
    )

    class Meta:
        model = ChatSession
        fields: list[str] = []

    def filter_q(
        self, queryset: QuerySet[ChatSession], name: str, value: str
    ) -> QuerySet[ChatSession]:
        return search_sessions(queryset, value)

    def filter_label(
        self, queryset: QuerySet[ChatSession], name: str, value: str
    ) -> QuerySet[ChatSession]:
        return queryset.filter(conversation_id__in=labelled_conversation_ids(value))

    def filter_date_from(
        self, queryset: QuerySet[ChatSession], name: str, value: dt.date | dt.datetime
    ) -> QuerySet[ChatSession]:
        if not isinstance(value, dt.datetime):
            value = _midnight(value)
        return queryset.filter(start_time__gte=value)

    def filter_date_to(
        self, queryset: QuerySet[ChatSession], name: str, value: dt.date | dt.datetime
    ) -> QuerySet[ChatSession]:
        if isinstance(value, dt.datetime):
            return queryset.filter(start_time__lte=value)
        if value == dt.date.max:
            return queryset
        return queryset.filter(start_time__lt=_midnight(value + dt.timedelta(days=1)))
