"""Embedded services for tests and ``sitelog demo``: a Tansu broker and a PostgreSQL server.

Each service is a child process we own and stop by its pid; see :mod:`.process`.
"""

from __future__ import annotations

from engine.embedded.postgres import EmbeddedPostgres, find_postgres_bindir
from engine.embedded.tansu import EmbeddedBroker, find_tansu_binary

__all__ = ["EmbeddedBroker", "EmbeddedPostgres", "find_postgres_bindir", "find_tansu_binary"]
