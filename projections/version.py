"""Versions: the total order ``(hlc, origin, event_id)`` as bytes that sort the same way.

Last-writer-wins registers compare versions. As bytes (8-byte big-endian HLC, the
origin in UTF-8, a NUL, the 16-byte event id) they compare in Python and in
PostgreSQL (``bytea``) exactly as the tuple does, and fit in one column. UTF-8
preserves code point order, and the NUL ends the origin so that a prefix sorts first.
"""

from __future__ import annotations

from schemas.event import Event


def version_key(event: Event) -> bytes:
    return event.hlc.to_bytes(8, "big") + event.origin.encode() + b"\x00" + event.event_id
