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
