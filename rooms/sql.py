"""Helpers for the few statements written by hand because they run on every message, signal
or socket opening (rooms/messaging.py, rooms/moderation.py, rooms/presence.py): table and
column names always come from the models, values only ever as parameters. Standard SQL that
PostgreSQL and SQLite both run; a row lock (`lock_clause`) only where the database has them.

Why by hand: building a statement through the ORM costs more CPU than running it (a join's
dozen statements took most of its 7.5 ms on a daphne instance, docs/benchmarks.md), and every
socket of an instance waits while one family joins. The SQL text is built once per model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
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


def lock_clause(alias: str) -> str:
    """`FOR UPDATE OF alias` where the database locks rows (PostgreSQL); SQLite serializes
    every write transaction anyway, as Django's select_for_update() assumes there."""
    if connection.features.has_select_for_update_of:
        return f" FOR UPDATE OF {alias}"
    return ""


def _data_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


@cache
def _insert_sql(model: type[models.Model], unique: str | None) -> str:
    meta = model._meta
    fields = _data_fields(model)
    quote = connection.ops.quote_name
    conflict = f"ON CONFLICT ({quote(meta.get_field(unique).column)}) DO NOTHING " if unique else ""
    return (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"{conflict}RETURNING {quote(meta.pk.column)}"
    )


def _insert(obj: models.Model, *, unique: str | None) -> bool:
    values = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for field in _data_fields(type(obj))
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(obj), unique), values)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


def insert_row(obj: models.Model) -> None:
    """Insert `obj` (a new instance) and set its pk: what `Model.objects.create()` does, with
    the statement built once. Values are prepared the way Django's own INSERT prepares them
    (defaults, auto_now_add, JSON and UUID adapters)."""
    _insert(obj, unique=None)


def insert_unless_exists(obj: models.Model, *, unique: str) -> bool:
    """Insert `obj`'s row unless one with the same `unique` field value exists: True (and
    `obj.pk` set) when inserted. One statement (ON CONFLICT DO NOTHING, PostgreSQL and SQLite
    3.35+), where Django's create() would need a savepoint around it to survive the conflict:
    two more round trips on the path of every first visit."""
    return _insert(obj, unique=unique)


@cache
def _update_sql(model: type[models.Model]) -> str:
    quote = connection.ops.quote_name
    meta = model._meta
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in _data_fields(model))
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608


def update_row(obj: models.Model) -> None:
    """Write every field of `obj`, an existing row (auto_now fields are set now): what
    `obj.save()` does for a row that exists, with the statement built once."""
    values = [
        field.get_db_prep_save(field.pre_save(obj, False), connection)
        for field in _data_fields(type(obj))
    ]
    values.append(type(obj)._meta.pk.get_db_prep_save(obj.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(type(obj)), values)


Converter = Callable[[Any, Any, Any], Any]


class Shape:
    """One model's whole row in a hand-written SELECT (`alias.col, ...` from `select`), made
    back into an instance by `instance(row, start)` with the converters Django's own queries
    apply (SQLite hands datetimes back as text and booleans as integers)."""

    def __init__(self, model: type[models.Model], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.width = len(self.fields)
        quote = connection.ops.quote_name
        self.select = ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)
        self.from_ = f"{quote(model._meta.db_table)} {alias}"
        self._converters: dict[str, list[tuple[int, Any, list[Converter]]]] = {}

    def _converters_now(self) -> list[tuple[int, Any, list[Converter]]]:
        vendor = connection.vendor
        found = self._converters.get(vendor)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                expression = field.get_col(self.alias)
                converters = [
                    *connection.ops.get_db_converters(expression),
                    *expression.get_db_converters(connection),
                ]
                if converters:
                    found.append((index, expression, converters))
            self._converters[vendor] = found
        return found

    def instance(self, row: Sequence[Any], start: int = 0) -> Any:
        values = list(row[start : start + self.width])
        for index, expression, converters in self._converters_now():
            for convert in converters:
                values[index] = convert(values[index], expression, connection)
        return self.model.from_db(connection.alias, None, values)


def refresh_from_row(obj: models.Model, fresh: models.Model) -> None:
    """Give `obj` the field values of `fresh`, a newer read of the same row, in place (what
    Model.refresh_from_db does after its own query)."""
    for field in type(obj)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(fresh, field.attname))
        # Related objects cached from the old values are dropped.
        if field.is_relation and field.is_cached(obj):
            field.delete_cached_value(obj)
