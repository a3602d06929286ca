"""Time zones people may choose: the IANA names zoneinfo knows, checked where they come in."""

from __future__ import annotations

import functools
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


@functools.cache
def available_time_zones() -> frozenset[str]:
    """Every IANA zone name of this system (the tzdata package or /usr/share/zoneinfo)."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def is_time_zone(name: str) -> bool:
    return name in available_time_zones()


def validate_time_zone(value: str) -> None:
    """A model and form validator: "" is left to `blank`, anything else must be a zone name."""
    if value and not is_time_zone(value):
        raise ValidationError(
            _("“%(value)s” is not a time zone name, such as Europe/Berlin or America/Bogota."),
            code="invalid_time_zone",
            params={"value": value},
        )


def time_zone_choices() -> list[tuple[str, str]]:
    """Sorted zone names for a select, commonest-looking (Area/City) ones only, plus UTC."""
    names = sorted(n for n in available_time_zones() if "/" in n and not n.startswith("Etc/"))
    return [("UTC", "UTC"), *((n, n.replace("_", " ")) for n in names)]
