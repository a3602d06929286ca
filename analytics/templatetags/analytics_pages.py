"""Template helpers of the analytics pages: company-carrying links and readable numbers.

Numbers, durations and dates are written for the reader's language (1,234.5 in English,
1.234,5 in German and Spanish) through Django's locale formats and the message catalogues."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext

from analytics.access import company_query

register = template.Library()


@register.simple_tag(takes_context=True)
def aurl(context: template.Context, name: str, *args: Any, **params: Any) -> str:
    """``reverse(name, args)`` plus ``?company=<id>`` for a superadmin, and any ``params``."""
    url = reverse(name, args=args)
    request: HttpRequest | None = context.get("request")
    parts = [company_query(request)] if request is not None else []
    parts += [f"{key}={value}" for key, value in params.items() if value not in (None, "")]
    query = "&".join(part for part in parts if part)
    return f"{url}?{query}" if query else url


@register.filter
def seconds(value: float | int | None) -> str:
    """A duration in seconds as "45 s", "3 min 20 s" or "2 h 05 min"; "–" for none."""
    if value is None or value == "":
        return "–"
    total = float(value)
    if total < 60:
        decimals = 1 if total < 10 and total != int(total) else 0
        shown = formats.number_format(round(total, decimals), decimal_pos=decimals)
        return gettext("%(seconds)s s") % {"seconds": shown}
    whole = round(total)
    if whole < 3600:
        return gettext("%(minutes)s min %(seconds)s s") % {
            "minutes": whole // 60,
            "seconds": f"{whole % 60:02d}",
        }
    if whole < 86400:
        return gettext("%(hours)s h %(minutes)s min") % {
            "hours": whole // 3600,
            "minutes": f"{whole % 3600 // 60:02d}",
        }
    return gettext("%(days)s d %(hours)s h") % {
        "days": whole // 86400,
        "hours": f"{whole % 86400 // 3600:02d}",
    }


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """A 0..1 rate as "87.5 %"; "–" for none."""
    if value is None or value == "":
        return "–"
    return f"{formats.number_format(float(value) * 100, decimal_pos=digits)} %"


@register.filter
def since(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long ago ``value`` was, as a duration ("4 min 10 s")."""
    if value is None:
        return "–"
    now = now or dt.datetime.now(dt.UTC)
    return seconds(max(0.0, (now - value).total_seconds()))


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key) if mapping else None


@register.filter
def number(value: int | float | None) -> str:
    """Thousands separated: 1234567 → "1,234,567" (en), "1.234.567" (de, es)."""
    if value is None or value == "":
        return "–"
    return formats.number_format(value, force_grouping=True)


@register.filter
def decimal(value: float | None, digits: int = 2) -> str:
    """A fraction for people: 3.8671 → "3.87" (en), "3,87" (de, es); "" for none."""
    if value is None or value == "":
        return ""
    return formats.number_format(round(float(value), digits), decimal_pos=digits)


@register.filter
def euros(value: Any) -> str:
    """An amount in euros: "€ 1,234.50" (en), "1.234,50 €" (de, es)."""
    if value is None or value == "":
        return "–"
    amount = formats.number_format(value, decimal_pos=2, force_grouping=True)
    return gettext("€ %(amount)s") % {"amount": amount}


@register.filter
def localdate(value: dt.date | str | None) -> str:
    """A day (a date, or an ISO string as the dashboards' JSON carries) in the short date
    format of the reader's language: 2026-12-03 (en), 03.12.2026 (de), 03/12/2026 (es)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return value
    else:
        day = value
    return formats.date_format(day, "SHORT_DATE_FORMAT")
