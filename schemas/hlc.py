"""Hybrid logical clock: timestamps that follow wall time yet never go backwards.

An HLC value is one 64-bit integer, ``physical_ms << 16 | logical``. Keeping it packed
makes the algorithm two ``max`` calls: a logical counter that overflows 16 bits
simply carries into the millisecond part, which keeps the clock monotonic without
waiting. Versions ``(hlc, origin, event_id)`` order events totally for the
last-writer-wins registers of the projections.
"""

from __future__ import annotations

import time
from collections.abc import Callable

LOGICAL_BITS = 16
_LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def pack(physical_ms: int, logical: int = 0) -> int:
    """Pack a physical time in milliseconds and a logical counter into one HLC value."""
    return (physical_ms << LOGICAL_BITS) | (logical & _LOGICAL_MASK)


def unpack(hlc: int) -> tuple[int, int]:
    """Split an HLC value into ``(physical_ms, logical)``."""
    return hlc >> LOGICAL_BITS, hlc & _LOGICAL_MASK


class HybridLogicalClock:
    """One clock per writer (node or poller). Not thread-safe: one event loop owns it."""

    def __init__(self, wall_ms: Callable[[], int] = _wall_ms, last: int = 0) -> None:
        self._wall_ms = wall_ms
        self._last = last

    @property
    def last(self) -> int:
        """The last value handed out or observed."""
        return self._last

    def now(self) -> int:
        """A timestamp for a local event: later than every value seen so far."""
        self._last = max(self._last + 1, self._wall_ms() << LOGICAL_BITS)
        return self._last

    def observe(self, remote: int) -> int:
        """Merge a timestamp read from another writer, so later local events sort after it."""
        self._last = max(self._last + 1, remote + 1, self._wall_ms() << LOGICAL_BITS)
        return self._last
