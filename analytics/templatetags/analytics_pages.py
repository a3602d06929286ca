"""Template helpers of the analytics pages: company-carrying links and readable numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.http import HttpRequest
from django.urls import reverse

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
        return f"{total:.1f} s" if total < 10 and total != int(total) else f"{total:.0f} s"
    whole = round(total)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """A 0..1 rate as "87.5 %"; "–" for none."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{digits}f} %"


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
    """Thousands separated: 1234567 → "1,234,567"."""
    if value is None or value == "":
        return "–"
    return f"{value:,}"
