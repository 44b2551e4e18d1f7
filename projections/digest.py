"""The state digest: one hash of a projection's canonical rows, restricted to a site subset.

Rows are taken from every digested table (``Table.digested``), kept when their
``target_site`` is in the subset, sorted by primary key, and hashed in a canonical
text form. Two nodes whose digests agree for a subset hold the same rows for it,
whatever order they read the events in. Node-local bookkeeping (offsets, dead
letters) is not digested.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

from projections.rollups import EXACT
from projections.tables import TABLES


def canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        # 1.50 and 1.5 are one number; -0 and 0 too (PostgreSQL's numeric has no -0).
        return str(EXACT.plus(value + 0).normalize(EXACT))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def digest(
    rows_by_table: Mapping[str, Iterable[tuple[Any, ...]]],
    sites: Collection[str] | None = None,
) -> str:
    """SHA-256 (hex) of the digested rows whose target_site is in ``sites`` (all when None)."""
    total = hashlib.sha256()
    for table in TABLES:
        if not table.digested:
            continue
        site_at = table.column_names.index("target_site")
        rows = [
            tuple(r)
            for r in rows_by_table.get(table.name, ())
            if sites is None or r[site_at] in sites
        ]
        rows.sort(key=table.key_of)
        total.update(f"{table.name} {len(rows)}\n".encode())
        for row in rows:
            # repr keeps float precision exactly and tells None from NaN from infinity.
            total.update(repr(canonical(row)).encode())
            total.update(b"\n")
    return total.hexdigest()
