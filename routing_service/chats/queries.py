"""Hot-path reads of the router without the ORM's per-call query compilation.

Compiling a queryset (joins, default ordering, lookups) costs more CPU than PostgreSQL spends
answering these primary- and foreign-key look-ups: in a one-message batch — the common case at
live rates — compilation was about a third of the router's time. `rows()` writes the statement
directly (every concrete column, equality and `= ANY(array)` conditions, no ordering) and
builds the instances itself: the fields' own database converters (JSON decoding), then the
values straight into the instance's attributes — what `Model.from_db` leaves after
`Model.__init__`'s per-field work, at a fraction of its cost (issue 16: the returning clients'
chats, clients and assignments of a batch are 1,500 rows).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

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
    read = [f for f in meta.concrete_fields if not fields or f.name in fields or f is pk]
    columns = [f.column for f in read]
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return _instances(model, tuple(read), found)


Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _converters(field: models.Field) -> tuple[Any, tuple[Converter, ...]]:
    """The column expression and converters `Model.objects.raw()` would apply to the field."""
    column = field.get_col(field.model._meta.db_table)
    own: list[Converter] = getattr(field, "get_db_converters")(connection)  # noqa: B009 - untyped in the stubs
    return column, tuple(connection.ops.get_db_converters(column) + own)


def _instances(
    model: type[_M], fields: tuple[models.Field, ...], found: list[tuple[Any, ...]]
) -> list[_M]:
    """Instances from rows of `fields` (the others deferred, as `from_db` leaves them)."""
    converting = []
    for index, field in enumerate(fields):
        column, converters = _converters(field)
        if converters:
            converting.append((index, column, converters))
    rows_: list[Any] = found
    if converting:
        converted = []
        for row in found:
            values = list(row)
            for index, column, converters in converting:
                value = values[index]
                for converter in converters:
                    value = converter(value, column, connection)
                values[index] = value
            converted.append(values)
        rows_ = converted
    alias = connection.alias
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        names = [f.attname for f in fields]
        return [model.from_db(alias, names, values) for values in rows_]
    attnames = tuple(f.attname for f in fields)
    result = []
    for values in rows_:
        obj = model.__new__(model)
        state = obj._state = ModelState()
        state.adding = False
        state.db = alias
        obj.__dict__.update(zip(attnames, values, strict=True))
        result.append(obj)
    return result
