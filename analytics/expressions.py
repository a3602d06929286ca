"""SQL expressions the dashboards and the live metrics share (PostgreSQL, and the SQLite demo)."""

from __future__ import annotations

from typing import Any

from django.db.models import FloatField, Func

__all__ = ["Seconds"]


class Seconds(Func):
    """Seconds from ``start`` to ``end`` (both date-times), as a float."""

    output_field = FloatField()

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )
