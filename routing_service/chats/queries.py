"""Hot-path reads of the router without the ORM's per-call query compilation.

Compiling a queryset (joins, default ordering, lookups) costs more CPU than PostgreSQL spends
answering these primary- and foreign-key look-ups: in a one-message batch — the common case at
live rates — compilation was about a third of the router's time. `rows()` writes the statement
directly (every concrete column, equality and `= ANY(array)` conditions, no ordering) and lets
`Model.objects.raw()` build the instances, so field conversions stay Django's own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from django.db import connection, models

_M = TypeVar("_M", bound=models.Model)


def rows(
    model: type[_M],
    where: Mapping[str, Any],
    *,
    for_update: bool = False,
    fields: Collection[str] = (),
) -> list[_M]:
    """Instances whose columns match `where` (a value: equality; a list, set or tuple: `IN`).

    `fields` limits the columns read (the rest are deferred, as with `.only()`); the primary key
    is always read. `for_update` locks the rows (ignored where unsupported, as by the ORM).
    """
    meta = model._meta
    quote = connection.ops.quote_name
    pk = meta.pk
    assert pk is not None
    columns = [f.column for f in meta.concrete_fields if not fields or f.name in fields or f is pk]
    conditions: list[str] = []
    params: list[Any] = []
    for name, value in where.items():
        field = meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is not a column"
        column = quote(field.column)
        if isinstance(value, list | set | tuple | frozenset):
            if not value:
                return []
            if connection.vendor == "postgresql":
                # One array parameter: the statement's text is the same whatever the number of
                # values, so psycopg converts it once (cached), not one placeholder per value.
                conditions.append(f"{column} = ANY(%s)")
                params.append(list(value))
            else:
                conditions.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
                params.extend(value)
        else:
            conditions.append(f"{column} = %s")
            params.append(value)
    sql = (
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(meta.db_table)} "  # noqa: S608 - names from the model
        f"WHERE {' AND '.join(conditions) or 'TRUE'}"
    )
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return list(model._default_manager.raw(sql, params))
