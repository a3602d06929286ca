"""SLA policies: targets per priority on a business calendar, validated before they reach the
SLA engine (a bad time zone or holiday country must fail here, not in the timer at 3 a.m.)."""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from typing import Any

import holidays as holidays_lib
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import Direction
from rest_framework import serializers

from routing_service.api.serializers.base import JsonTypesMixin, TenantModelSerializer
from routing_service.chats.models import Priority
from routing_service.queues.models import Queue
from sla_engine import ladder
from sla_engine.calendar import END_OF_DAY
from sla_engine.models import ChatSLA

MAX_TARGET_MINUTES = 366 * 24 * 60
_HHMM = "%H:%M"


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _holiday_countries() -> dict[str, list[str]]:
    return dict(holidays_lib.list_supported_countries())


# The contract's "HH:MM" (DESIGN.md). Requests may add ":00": clients generated from the schema
# this API published before (`format: time`) send "09:00:00".
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
HHMM_REQUEST_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:00)?$"


class HHMMField(serializers.TimeField):
    """A time of day on the minute: answered as "HH:MM", accepted as "HH:MM" or "HH:MM:00".

    Not OpenAPI's `format: time` (RFC 3339 "HH:MM:SS" with an offset), which the answers never
    were; the schema says what they are (see `HHMMFieldExtension`).
    """

    default_error_messages = {"invalid": 'A time of day on the minute, "HH:MM" (e.g. "09:30").'}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format=_HHMM, input_formats=[_HHMM, "%H:%M:%S"], **kwargs)

    def to_internal_value(self, value: Any) -> dt.time:
        # strptime alone would also take "9:5" or " 09:30": the pattern is the contract.
        if not isinstance(value, str) or not re.fullmatch(HHMM_REQUEST_PATTERN, value):
            self.fail("invalid")
        return super().to_internal_value(value)


class HHMMFieldExtension(OpenApiSerializerFieldExtension):
    target_class = HHMMField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        pattern = HHMM_REQUEST_PATTERN if direction == "request" else HHMM_PATTERN
        return {"type": "string", "pattern": pattern, "example": "09:00"}


def _hhmm(**kwargs: Any) -> HHMMField:
    return HHMMField(**kwargs)


# Ends of a working day or interval may also be 24:00, the end of the day.
END_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
END_REQUEST_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)(:00)?$"


class EndTimeField(HHMMField):
    """An end of work: HH:MM, or 24:00 for the end of the day. A `time` cannot hold 24:00, so it
    comes through as the string `END_OF_DAY`, and the serializer stores it the way the calendar
    reads it."""

    default_error_messages = {
        "invalid": 'A time of day on the minute, "HH:MM" (e.g. "17:30"), or "24:00".'
    }

    def to_internal_value(self, value: Any) -> dt.time | str:  # type: ignore[override]
        if isinstance(value, str) and value in (END_OF_DAY, f"{END_OF_DAY}:00"):
            return END_OF_DAY
        return super().to_internal_value(value)


class EndTimeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EndTimeField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        pattern = END_REQUEST_PATTERN if direction == "request" else END_PATTERN
        return {"type": "string", "pattern": pattern, "example": "17:00"}


class EscalationStepSerializer(JsonTypesMixin, serializers.Serializer[dict[str, Any]]):
    """The shape for the schema; the rules are the SLA engine's own (`ladder.ladder_errors`)."""

    after_minutes = serializers.IntegerField(min_value=0, max_value=ladder.MAX_AFTER_MINUTES)
    action = serializers.ChoiceField(choices=ladder.ACTIONS)
    to = serializers.ChoiceField(
        choices=ladder.REASSIGN_TARGETS,
        required=False,
        help_text="Only for reassign: who takes over (default supervisor).",
    )


class SLAPolicySerializer(TenantModelSerializer[ChatSLA]):
    priority = serializers.ChoiceField(choices=Priority.choices)
    queue = serializers.IntegerField(
        source="queue_id",
        min_value=1,
        allow_null=True,
        required=False,
        help_text=(
            "A queue of the company: this policy applies to that queue's chats of this priority, "
            "instead of the company's. Null (the default): the company's policy."
        ),
    )
    first_response_minutes = serializers.IntegerField(min_value=1, max_value=MAX_TARGET_MINUTES)
    resolution_minutes = serializers.IntegerField(min_value=1, max_value=MAX_TARGET_MINUTES)
    warning_percent = serializers.IntegerField(min_value=1, max_value=100, required=False)
    work_start = _hhmm(required=False, help_text="HH:MM, local to `timezone`.")
    work_end = EndTimeField(
        required=False,
        help_text=(
            "HH:MM, or 24:00 for the end of the day; at or before work_start means an "
            "overnight (or 24-hour) shift."
        ),
    )
    work_intervals = serializers.ListField(
        child=serializers.ListField(child=EndTimeField(), min_length=2, max_length=2),
        required=False,
        max_length=12,
        help_text='Overrides work_start/work_end, e.g. [["09:00", "12:00"], ["13:00", "17:00"]].',
    )
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        max_length=7,
        help_text="Working days, 0 = Monday … 6 = Sunday.",
    )
    timezone = serializers.CharField(
        max_length=64, required=False, help_text="IANA name, e.g. Europe/Berlin."
    )
    holiday_country = serializers.CharField(
        max_length=8,
        required=False,
        allow_blank=True,
        help_text="ISO code known to the `holidays` package, e.g. DE; empty for none.",
    )
    holiday_subdivision = serializers.CharField(max_length=16, required=False, allow_blank=True)
    holidays = serializers.ListField(
        child=serializers.DateField(input_formats=["iso-8601"]),
        required=False,
        max_length=1000,
        help_text="Extra non-working dates, YYYY-MM-DD.",
    )
    escalation_ladder = serializers.ListField(
        child=EscalationStepSerializer(), required=False, max_length=ladder.MAX_STEPS
    )

    class Meta:
        model = ChatSLA
        fields = [
            "id",
            "company",
            "priority",
            "queue",
            "first_response_minutes",
            "resolution_minutes",
            "warning_percent",
            "work_start",
            "work_end",
            "work_intervals",
            "weekdays",
            "include_weekends",
            "timezone",
            "holiday_country",
            "holiday_subdivision",
            "holidays",
            "pause_while_waiting_on_customer",
            "escalation_ladder",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]
        # Uniqueness per company and priority is checked in validate(), with the field named.
        validators: list[Any] = []

    def validate_weekdays(self, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each weekday may appear only once.")
        return sorted(value)

    def validate_work_intervals(self, value: list[list[dt.time | str]]) -> list[list[str]]:
        # Stored as JSON: keep the same "HH:MM" strings the API accepts ("24:00" as an end).
        intervals = []
        for start, end in value:
            if not isinstance(start, dt.time):
                raise serializers.ValidationError(
                    "24:00 ends a day; an interval cannot start at it."
                )
            intervals.append(
                [start.strftime(_HHMM), end if isinstance(end, str) else end.strftime(_HHMM)]
            )
        return intervals

    def validate_timezone(self, value: str) -> str:
        if value not in _time_zones():
            raise serializers.ValidationError(f'"{value}" is not a known IANA time zone.')
        return value

    def validate_holiday_country(self, value: str) -> str:
        value = value.strip().upper()
        if value and value not in _holiday_countries():
            raise serializers.ValidationError(f'"{value}" is not a supported holiday country.')
        return value

    def validate_holidays(self, value: list[dt.date]) -> list[str]:
        return sorted({day.isoformat() for day in value})

    def validate_escalation_ladder(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        errors = ladder.ladder_errors(value)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if "work_end" in attrs:
            # 24:00 is stored as 00:00 (the calendar's "midnight after the start") plus a flag
            # so it is answered back as written.
            end_of_day = attrs["work_end"] == END_OF_DAY
            attrs["work_end"] = dt.time(0) if end_of_day else attrs["work_end"]
            attrs["work_end_is_end_of_day"] = end_of_day
        instance: ChatSLA | None = self.instance
        company = self.target_company(attrs)

        def current(field: str, default: Any = None) -> Any:
            if field in attrs:
                return attrs[field]
            return getattr(instance, field) if instance is not None else default

        errors: dict[str, list[str]] = {}
        first, resolution = current("first_response_minutes"), current("resolution_minutes")
        if first is not None and resolution is not None and resolution < first:
            errors["resolution_minutes"] = ["Must not be shorter than first_response_minutes."]

        weekdays = current("weekdays", [0, 1, 2, 3, 4])
        if not weekdays and not current("include_weekends", False):
            errors["weekdays"] = ["Name at least one working day (or include weekends)."]

        country = current("holiday_country", "")
        subdivision = (attrs.get("holiday_subdivision") or "").strip()
        if "holiday_subdivision" in attrs:
            attrs["holiday_subdivision"] = subdivision
        if subdivision:
            known = _holiday_countries().get(country) if country else None
            if not country:
                errors["holiday_subdivision"] = ["Needs holiday_country."]
            elif known is not None and subdivision not in known:
                errors["holiday_subdivision"] = [
                    f'"{subdivision}" is not a subdivision of {country}.'
                ]

        queue_id = current("queue_id")
        if (
            "queue_id" in attrs
            and queue_id is not None
            and not Queue.objects.unscoped().filter(company=company, pk=queue_id).exists()
        ):
            errors["queue"] = ["No such queue in this company."]
        priority = current("priority")
        if priority is not None:
            # One policy per priority for the company, and one per priority for each queue.
            clash = ChatSLA.objects.for_company(company).filter(
                priority=priority, queue_id=queue_id
            )
            if instance is not None:
                clash = clash.exclude(pk=instance.pk)
            if clash.exists():
                errors["priority"] = [
                    "This queue already has an SLA policy for this priority."
                    if queue_id is not None
                    else "This company already has an SLA policy for this priority."
                ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_representation(self, instance: ChatSLA) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.work_end_is_end_of_day:
            data["work_end"] = END_OF_DAY
        return data
