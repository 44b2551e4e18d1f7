"""Bringing an existing projection schema up to its declared tables: columns declared since.

Tables are created from their declarations (``projections.tables``) when they are missing,
so a schema made by an older sitelog lacks only the columns declared after it was made
(the offsets' log identity, for one). The sink adds those on start: nullable ones only,
which rows written before them read as NULL, "not known". A missing column that cannot
be NULL is left alone: the sink's writes then fail with PostgreSQL's own error naming it
(rebuild the projection with ``sitelog replay``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from projections.table import Column, Table
from projections.tables import TABLES

__all__ = ["add_missing_columns", "missing_columns"]


def missing_columns(cur: psycopg.Cursor[Any], schema: str) -> list[tuple[Table[Any], Column]]:
    """The declared nullable columns of ``schema``'s existing tables that they lack."""
    cur.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (schema,),
    )
    present: dict[str, set[str]] = {}
    for table, column in cur:
        present.setdefault(table, set()).add(column)
    return [
        (table, column)
        for table in TABLES
        if table.name in present
        for column in table.columns
        if column.nullable and column.name not in present[table.name]
    ]


def add_missing_columns(cur: psycopg.Cursor[Any], schema: str) -> list[str]:
    """Add what :func:`missing_columns` finds; returns ``table.column`` of each one added.

    Only when one is missing: ``ALTER TABLE`` locks its table, so a schema already up to
    date is only read.
    """
    added = []
    for table, column in missing_columns(cur, schema):
        cur.execute(
            sql.SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(schema),
                sql.Identifier(table.name),
                sql.Identifier(column.name),
                sql.SQL(column.sql_type),
            )
        )
        added.append(f"{table.name}.{column.name}")
    return added
