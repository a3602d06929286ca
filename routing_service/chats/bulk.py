"""Set-based writes the ORM makes slow: many rows, each with its own values.

Django renders one placeholder per value (`bulk_create`) or one `CASE WHEN id = … THEN …` per
field and row (`bulk_update`), and prepares every value through its field and the database
adapter; at the router's batch sizes that Python work costs more than PostgreSQL spends running
the statement. On PostgreSQL these helpers send all the rows as one JSON document instead,
read back by `json_populate_recordset(NULL::<table>, …)` into the table's own column types:
one parameter and a fixed-size statement whatever the number of rows, serialised in C by
orjson. Elsewhere (the SQLite demo) they fall back to `bulk_create` / `bulk_update`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from django.db import connection, models

_M = TypeVar("_M", bound=models.Model)


def insert_rows(objs: list[_M]) -> list[_M]:
    """Insert new objects in one statement and set their primary keys (like `bulk_create`)."""
    if not objs:
        return objs
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_create(objs)
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    fields = [f for f in meta.concrete_fields if f is not pk]
    columns = [f.column for f in fields]
    rows = [{f.column: f.pre_save(obj, True) for f in fields} for obj in objs]
    quote = connection.ops.quote_name
    names = ", ".join(map(quote, columns))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608 - names from the model
        f"SELECT {names} FROM {_records(meta.db_table)} RETURNING {quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_json(rows)])
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk_value in zip(objs, ids, strict=True):
        setattr(obj, pk.attname, pk_value)
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def update_rows(objs: Sequence[_M], fields: Sequence[str]) -> None:
    """Write `fields` of every object to its row (by primary key) in one statement."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, list(fields))
        return
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    all_fields = [pk]
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is not a concrete column"
        all_fields.append(field)
    rows = [{f.column: getattr(obj, f.attname) for f in all_fields} for obj in objs]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in all_fields[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - names from the model
        f"FROM {_records(meta.db_table)} WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_json(rows)])


def _records(table: str) -> str:
    """Rows of the JSON parameter typed as the table's columns (keys are column names)."""
    return f"json_populate_recordset(NULL::{connection.ops.quote_name(table)}, %s::json) AS v"


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows, default=_json_default).decode()


def _json_default(value: object) -> str:
    """Values orjson leaves out, as text PostgreSQL parses into their column type."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds()} seconds"
    raise TypeError(f"cannot write a {type(value).__name__} through JSON")
