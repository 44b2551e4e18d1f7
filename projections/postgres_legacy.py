"""The previous storage layout (before issue 17): its tables that changed, and telling it apart.

Until commit 8837509 a projection kept every perfdata point as a text-keyed row of
twelve columns (``perfdata_points``, primary key host, service, label, check time and
event id), one 5-minute rollup table (``perfdata_rollups``), and an unpartitioned state
history and audit trail; dead letters had no ``recorded_at``. The DDL here is that
layout's, frozen as SQL text (what the sink of that commit created from its table
declarations), so that a conversion and its tests do not depend on today's declarations.

``legacy_layout`` says what of a schema is of that layout, in a few words, or None. The
sink refuses to start on such a schema (``LegacyLayoutError``): converting a large table
is an administrator's decision (``sitelog migrate``, ``projections.postgres_migrate``),
not a side effect of a restart.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from projections.errors import LegacyLayoutError

__all__ = [
    "LEGACY_DDL",
    "LEGACY_TABLES",
    "legacy_ddl",
    "legacy_layout",
    "legacy_tables",
    "refuse_legacy_layout",
]

#: The tables whose layout changed, as the previous layout created them ({s}: the schema).
LEGACY_DDL: dict[str, tuple[str, ...]] = {
    "state_history": (
        "CREATE TABLE IF NOT EXISTS {s}.state_history (event_id bytea NOT NULL,"
        " host_name text NOT NULL, service_description text NOT NULL,"
        " target_site text NOT NULL, check_time bigint NOT NULL, state smallint NOT NULL,"
        " state_type smallint NOT NULL, previous_state smallint, previous_state_type smallint,"
        " attempt integer NOT NULL, output text NOT NULL, PRIMARY KEY (event_id))",
        "CREATE INDEX IF NOT EXISTS state_history_host_name_service_description_check_time_idx"
        " ON {s}.state_history (host_name, service_description, check_time)",
    ),
    "audit_log": (
        "CREATE TABLE IF NOT EXISTS {s}.audit_log (event_id bytea NOT NULL,"
        " target_site text NOT NULL, site text NOT NULL, origin text NOT NULL,"
        " hlc bigint NOT NULL, event_time bigint NOT NULL, subject text NOT NULL,"
        " action text NOT NULL, author text NOT NULL, details text NOT NULL,"
        " PRIMARY KEY (event_id))",
        "CREATE INDEX IF NOT EXISTS audit_log_subject_event_time_idx"
        " ON {s}.audit_log (subject, event_time)",
    ),
    "perfdata_points": (
        "CREATE TABLE IF NOT EXISTS {s}.perfdata_points (host_name text NOT NULL,"
        " service_description text NOT NULL, label text NOT NULL, check_time bigint NOT NULL,"
        " event_id bytea NOT NULL, target_site text NOT NULL, value double precision,"
        " unit text NOT NULL, warn text, crit text, min double precision,"
        " max double precision,"
        " PRIMARY KEY (host_name, service_description, label, check_time, event_id))",
    ),
    "perfdata_rollups": (
        "CREATE TABLE IF NOT EXISTS {s}.perfdata_rollups (host_name text NOT NULL,"
        " service_description text NOT NULL, label text NOT NULL,"
        " bucket_start bigint NOT NULL, target_site text NOT NULL, samples integer NOT NULL,"
        " sum numeric, min double precision, max double precision,"
        " PRIMARY KEY (host_name, service_description, label, bucket_start))",
    ),
    # Unchanged but for the column recorded_at, which add_missing_columns adds.
    "dead_letters": (
        "CREATE TABLE IF NOT EXISTS {s}.dead_letters (site text NOT NULL,"
        " partition integer NOT NULL, record_offset bigint NOT NULL, reason text NOT NULL,"
        " message text NOT NULL, record_key bytea, record_value bytea,"
        " PRIMARY KEY (site, partition, record_offset))",
    ),
}

#: The tables a conversion sets aside and rebuilds, in the order it reads them.
LEGACY_TABLES = ("perfdata_points", "perfdata_rollups", "state_history", "audit_log")


def legacy_ddl(schema: str, table: str) -> list[sql.Composed]:
    """The previous layout's statements creating ``table`` in ``schema``."""
    return [sql.SQL(statement).format(s=sql.Identifier(schema)) for statement in LEGACY_DDL[table]]


def legacy_tables(cur: psycopg.Cursor[Any], schema: str) -> dict[str, str]:
    """The tables of ``schema`` that have the previous layout, each with what tells it."""
    cur.execute(
        "SELECT c.relname, c.relkind, EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid ="
        " c.oid AND a.attname = 'host_name' AND a.attnum > 0 AND NOT a.attisdropped)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (schema, list(LEGACY_TABLES)),
    )
    found: dict[str, str] = {}
    for name, kind, text_keyed in cur.fetchall():
        if name == "perfdata_points" and text_keyed:
            found[name] = "text-keyed perfdata_points"
        elif name == "perfdata_rollups":
            found[name] = "perfdata_rollups"
        elif name in ("state_history", "audit_log") and kind == "r":
            # The new layout's are partitioned tables (relkind 'p').
            found[name] = f"unpartitioned {name}"
    return {name: found[name] for name in LEGACY_TABLES if name in found}


def legacy_layout(cur: psycopg.Cursor[Any], schema: str) -> str | None:
    """What of ``schema`` has the previous layout (``text-keyed perfdata_points, ...``),
    or None when nothing does (a schema of today's layout, or no schema at all)."""
    found = legacy_tables(cur, schema)
    return ", ".join(found.values()) if found else None


def refuse_legacy_layout(cur: psycopg.Cursor[Any], schema: str) -> None:
    """Raise ``LegacyLayoutError`` (one line naming the commands) if ``schema`` has the
    previous layout; the sink calls it before it creates or writes anything."""
    what = legacy_layout(cur, schema)
    if what is not None:
        raise LegacyLayoutError(
            f"projection {schema} has the layout of an older sitelog ({what}): convert it with"
            " 'sitelog migrate --config FILE' (or --dsn/--schema), or rebuild it with"
            " 'sitelog replay'"
        )
