"""The live change feed: projection row changes, numbered, kept in a bounded ring.

The projector hands over each committed batch's changes; the feed numbers every
changed row (state, acknowledgement, downtime, comment) and keeps the most recent
ones, so a client that reconnects with the last id it saw gets exactly what it
missed. An id is ``EPOCH-SEQ``: the epoch changes when the node restarts, and an id
of another epoch, or one older than the ring, cannot be resumed: the client is told
to reload (as a Kubernetes watch answers "too old") instead of silently missing rows.

No I/O and no event loop here: subscribers are woken by the ``notify`` callback.
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from engine.api import views
from projections.state import Changes
from projections.table import Table
from projections.tables import ACKNOWLEDGEMENTS, COMMENTS, DOWNTIMES, STATES

#: Which register tables are streamed, and the name of their change type.
KINDS: dict[Table[Any], str] = {
    STATES: "state",
    ACKNOWLEDGEMENTS: "acknowledgement",
    DOWNTIMES: "downtime",
    COMMENTS: "comment",
}
_VIEWS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "state": lambda row: views.state(row, None, None),
    "acknowledgement": views.acknowledgement,
    "downtime": views.downtime,
    "comment": views.comment,
}


@dataclass(slots=True)
class Change:
    seq: int
    kind: str
    row: Any
    _data: bytes | None = None

    @property
    def site(self) -> str:
        site: str = self.row.target_site
        return site

    @property
    def data(self) -> bytes:
        """The change as JSON, serialised once however many clients receive it."""
        if self._data is None:
            self._data = orjson.dumps(_VIEWS[self.kind](self.row))
        return self._data


@dataclass(frozen=True)
class ChangeFilter:
    kinds: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    host: str | None = None
    service: str | None = None
    states: frozenset[int] | None = None

    def matches(self, change: Change) -> bool:
        row = change.row
        if self.kinds is not None and change.kind not in self.kinds:
            return False
        if self.sites is not None and row.target_site not in self.sites:
            return False
        if self.host is not None and row.host_name != self.host:
            return False
        if self.service is not None and row.service_description != self.service:
            return False
        return self.states is None or (change.kind == "state" and row.state in self.states)


class ResumeError(Exception):
    """The changes after that id are no longer (or never were) in this feed."""


class ChangeFeed:
    def __init__(self, capacity: int = 100_000, notify: Callable[[], None] | None = None) -> None:
        self.epoch = secrets.token_hex(4)
        self._ring: deque[Change] = deque(maxlen=capacity)
        self._seq = 0
        self._notify = notify

    @property
    def last_seq(self) -> int:
        return self._seq

    def id_of(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def publish(self, changes: Changes) -> None:
        """Number and keep every streamed row of a committed batch."""
        published = False
        for table, kind in KINDS.items():
            for row in changes.registers[table].values():
                self._seq += 1
                self._ring.append(Change(self._seq, kind, row))
                published = True
        if published and self._notify is not None:
            self._notify()

    def resume_point(self, last_id: str) -> int:
        """The sequence number after which a client that saw ``last_id`` resumes."""
        epoch, _, seq_text = last_id.partition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            raise ResumeError(f"id {last_id!r} is not from this node's current feed")
        seq = int(seq_text)
        if seq > self._seq:
            raise ResumeError(f"id {last_id!r} is ahead of this feed")
        if not self.holds(seq):
            raise ResumeError(f"changes after {last_id!r} are no longer kept")
        return seq

    def holds(self, seq: int) -> bool:
        """Whether every change after ``seq`` is still kept."""
        oldest = self._ring[0].seq if self._ring else self._seq + 1
        return seq >= oldest - 1

    def after(self, seq: int) -> list[Change]:
        """Every kept change numbered after ``seq``, in order."""
        if not self._ring or seq >= self._seq:
            return []
        # Numbers in the ring are consecutive, so the position follows from the first.
        return list(itertools.islice(self._ring, max(0, seq - self._ring[0].seq + 1), None))
