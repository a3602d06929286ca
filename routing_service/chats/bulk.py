"""Set-based writes the ORM makes slow: many rows, each with its own values.

Django renders one placeholder per value (`bulk_create`) or one `CASE WHEN id = … THEN …` per
field and row (`bulk_update`), and prepares every value through its field and the database
adapter; at the router's batch sizes that Python work costs more than PostgreSQL spends running
the statement. On PostgreSQL these helpers send all the rows as one JSON document instead,
read back by `json_populate_recordset(NULL::<table>, …)` into the table's own column types:
one parameter and a fixed-size statement whatever the number of rows, serialised in C by
orjson. Elsewhere (the SQLite demo) they fall back to `bulk_create` / `bulk_update`.

The router's batches build and write thousands of rows each (issue 16): `new()` builds an
unsaved instance without `Model.__init__` (a third of the cost of keyword arguments), and
`insert_values()` writes rows nobody needs as instances (the audit trail) straight from dicts.
Both fill Django's defaults, and every helper stamps `auto_now`/`auto_now_add` fields with one
`timezone.now()` per call rather than one per row.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from django.db import connection, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

_M = TypeVar("_M", bound=models.Model)

# How `insert_rows` reads a field: its attribute as it is, the call's timestamp (auto_now or
# auto_now_add: written back to the instance, like `pre_save`), or the field's own `pre_save`.
_PLAIN, _STAMP, _PRE_SAVE = 0, 1, 2


@dataclass(frozen=True)
class _Plan:
    """What the helpers need of a model, worked out once per model."""

    columns: tuple[str, ...]  # concrete columns but the primary key, in field order
    reads: tuple[tuple[str, str, int, models.Field], ...]  # (column, attname, how, field)
    defaults: dict[str, Any]  # attname -> default (all concrete fields; callables excluded)
    factories: tuple[tuple[str, models.Field], ...]  # fields whose default is a callable
    signals: bool  # pre_init / post_init receivers: `new()` must call __init__


@functools.cache
def _plan(model: type[models.Model]) -> _Plan:
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f is not pk]
    reads: list[tuple[str, str, int, models.Field]] = []
    for f in fields:
        how = _PLAIN
        auto = isinstance(f, models.DateField) and (f.auto_now or f.auto_now_add)
        if auto and isinstance(f, models.DateTimeField):
            how = _STAMP
        elif auto or (
            type(f).pre_save is not models.Field.pre_save and not isinstance(f, models.DateField)
        ):
            how = _PRE_SAVE
        reads.append((f.column, f.attname, how, f))
    defaults: dict[str, Any] = {}
    factories: list[tuple[str, models.Field]] = []
    for f in meta.concrete_fields:
        if f.has_default() and callable(f.default):
            factories.append((f.attname, f))
        else:
            defaults[f.attname] = f.get_default()
    return _Plan(
        columns=tuple(f.column for f in fields),
        reads=tuple(reads),
        defaults=defaults,
        factories=tuple(factories),
        signals=pre_init.has_listeners(model) or post_init.has_listeners(model),
    )


def new(model: type[_M], values: Mapping[str, Any], related: Mapping[str, Any] | None = None) -> _M:
    """An unsaved instance: `values` by attname (`conversation_id`, not `conversation`), the
    other fields at their defaults; `related` caches related objects by field name, so that
    `message.conversation` needs no query. The same instance as `model(**…)`, without the
    per-field work of `Model.__init__` (unless a pre/post_init receiver needs it)."""
    plan = _plan(model)
    if plan.signals:
        obj = model(**values)
        for name, value in (related or {}).items():
            setattr(obj, name, value)
        return obj
    obj = model.__new__(model)
    state = obj._state = ModelState()
    if related:
        state.fields_cache = dict(related)
    attributes = obj.__dict__
    attributes.update(plan.defaults)
    for attname, field in plan.factories:
        if attname not in values:
            attributes[attname] = field.get_default()
    attributes.update(values)
    return obj


def insert_values(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert rows given as dicts by attname (the other fields at their defaults) in one
    statement; returns their primary keys in order. For rows nobody needs as instances."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        return [obj.pk for obj in insert_rows([model(**row) for row in rows])]
    plan = _plan(model)
    now = timezone.now()
    base = dict(plan.defaults)
    for _column, attname, how, _field in plan.reads:
        if how == _STAMP:
            base[attname] = now
    attnames = {attname: column for column, attname, _, _ in plan.reads}
    records = []
    for row in rows:
        values = {**base, **row}
        for attname, field in plan.factories:
            if attname not in row:  # each row its own (a uuid default must differ per row)
                values[attname] = field.get_default()
        records.append({column: values[attname] for attname, column in attnames.items()})
    return _insert_json(model, plan, records)


def _insert_json(
    model: type[models.Model], plan: _Plan, records: list[dict[str, Any]]
) -> list[int]:
    meta = model._meta
    assert meta.pk is not None
    quote = connection.ops.quote_name
    names = ", ".join(map(quote, plan.columns))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608 - names from the model
        f"SELECT {names} FROM {_records(meta.db_table)} RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_json(records)])
        return [row[0] for row in cursor.fetchall()]


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
    plan = _plan(model)
    now = timezone.now()
    records = []
    for obj in objs:
        attributes = obj.__dict__
        record = {}
        for column, attname, how, field in plan.reads:
            if how == _PLAIN:
                try:
                    record[column] = attributes[attname]
                except KeyError:  # deferred
                    record[column] = getattr(obj, attname)
            elif how == _STAMP:
                # As `pre_save` does, once per call: auto_now always, auto_now_add on insert.
                value = now
                attributes[attname] = record[column] = value
            else:
                record[column] = field.pre_save(obj, True)
        records.append(record)
    ids = _insert_json(model, plan, records)
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
