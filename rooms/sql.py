"""Helpers for the few statements written by hand because they run on every message or
signal (rooms/messaging.py, rooms/moderation.py): table and column names always come from the
models, values only ever as parameters. Standard SQL that PostgreSQL and SQLite both run."""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def table(model: type[models.Model]) -> str:
    return model._meta.db_table


def column(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name).column


def columns(model: type[models.Model], alias: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{model._meta.get_field(n).column}" for n in names)


def attnames(model: type[models.Model], names: tuple[str, ...]) -> list[str]:
    return [model._meta.get_field(n).attname for n in names]


def db_value(model: type[models.Model], name: str, value: Any) -> Any:
    return model._meta.get_field(name).get_db_prep_value(value, connection, prepared=False)


def insert_unless_exists(obj: models.Model, *, unique: str) -> bool:
    """Insert `obj`'s row unless one with the same `unique` field value exists: True (and
    `obj.pk` set) when inserted. One statement (ON CONFLICT DO NOTHING, PostgreSQL and SQLite
    3.35+), where Django's create() would need a savepoint around it to survive the conflict:
    two more round trips on the path of every first visit. Values are prepared the way
    Django's own INSERT prepares them (defaults, auto_now, adapters)."""
    model = type(obj)
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote(meta.get_field(unique).column)}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True
