"""What a projector knows of the identity of one log it follows, and its checks of it.

Per site: the last event consumed in each partition (a :class:`~engine.log.identity.Mark`)
as committed, which the offset rows store, and as read, ahead of the commits, which the
next fetch must follow; and the topic id, once known. The projector checks them against
the log (``engine.log.identity``):

- on every (re)connection of the site's reader and on every probe: every mark read and
  the topic id (:meth:`SiteIdentity.check`);
- after every read, before its batches are queued: the mark each batch follows
  (:meth:`SiteIdentity.check_read`). A reader stays connected across a broker restart
  (aiokafka reconnects on its own), so a log replaced and refilled past the position
  under it would otherwise be read on as if it were the old one. Checking after the
  fetch is what makes it safe: a batch fetched from another log leaves another record
  at the mark's offset.

A mismatch raises LogReplacedError (LogWentBackwardsError when the log ends before a
mark), and the projector stops the site with it: nothing of the new log is projected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.log.identity import LogIdentity, Mark, check_marks, last_mark
from engine.log.records import ReadBatch
from projections.rows import OffsetRow

__all__ = ["SiteIdentity"]


class SiteIdentity:
    """The marks and topic id of one followed site log."""

    def __init__(self, site: str) -> None:
        self.site = site
        #: The last event committed per partition: what the offset rows say.
        self.committed: dict[int, Mark] = {}
        #: The last event read per partition: what the next fetch follows.
        self.read: dict[int, Mark] = {}
        #: The topic's id as first read from the brokers; None while not given.
        self.topic_id: bytes | None = None

    def load(self, rows: Iterable[OffsetRow]) -> None:
        """Start over from the stored offset rows of this site (a projector (re)loading)."""
        self.committed, self.topic_id = {}, None
        for row in rows:
            if row.last_event_offset is not None and row.last_event_id is not None:
                self.committed[row.partition] = Mark(row.last_event_offset, row.last_event_id)
            self.topic_id = self.topic_id or row.topic_id
        self.read = dict(self.committed)

    async def check(self, log: LogIdentity) -> None:
        """Check every mark read and the topic id against the log; learn the topic id if
        it was not known."""
        found = await log.verify(dict(self.read), self.topic_id)
        if self.topic_id is None:
            self.topic_id = found

    async def check_read(self, log: LogIdentity, batches: Sequence[ReadBatch]) -> None:
        """Check the marks the batches of one read follow, then move the marks past them."""
        before = {b.partition: self.read[b.partition] for b in batches if b.partition in self.read}
        if before:
            found = await log.read({p: mark.offset for p, mark in before.items()})
            check_marks(self.site, before, found)
        for batch in batches:
            if (mark := last_mark(batch)) is not None:
                self.read[batch.partition] = mark

    def offset_row(
        self, batch: ReadBatch, last_event_time: int | None, folded: dict[int, Mark]
    ) -> OffsetRow:
        """The offset row committing ``batch``: its next offset and the last event up to it
        (``folded`` holds the marks of the batches folded before it in the same write)."""
        mark = (
            last_mark(batch) or folded.get(batch.partition) or self.committed.get(batch.partition)
        )
        if mark is not None:
            folded[batch.partition] = mark
        return OffsetRow(
            self.site,
            batch.partition,
            batch.next_offset,
            last_event_time,
            None if mark is None else mark.offset,
            None if mark is None else mark.event_id,
            self.topic_id,
        )

    def commit(self, batch: ReadBatch) -> None:
        """``batch`` is committed: its last event is the partition's committed mark."""
        if (mark := last_mark(batch)) is not None:
            self.committed[batch.partition] = mark
