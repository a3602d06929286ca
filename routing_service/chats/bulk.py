"""Set-based writes the ORM makes slow: many rows, each with its own new values.

Django's `bulk_update` renders one `CASE WHEN id = … THEN …` per field and row, whose Python
cost grows with rows × fields (most of the router's time in a 200-message batch). On PostgreSQL
this writes one `UPDATE … FROM (VALUES …)` instead; elsewhere it falls back to `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection, models

_M = TypeVar("_M", bound=models.Model)


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
    all_fields: list[models.Field[Any, Any]] = [pk]
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is not a concrete column"
        all_fields.append(field)
    casts = [f"%s::{field.db_type(connection)}" for field in all_fields]
    row_sql = "(" + ", ".join(casts) + ")"
    params: list[Any] = []
    for obj in objs:
        for field in all_fields:
            value = field.get_db_prep_save(getattr(obj, field.attname), connection)
            params.append(value)
    names: list[str] = [f.column for f in all_fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in names[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - names from the model
        f"FROM (VALUES {', '.join([row_sql] * len(objs))}) AS v({', '.join(map(quote, names))}) "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
