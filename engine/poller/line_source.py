"""Lines from a file, a FIFO or stdin, optionally followed as the file grows and rotates.

A reader thread does the blocking reads (a FIFO or a pipe blocks until a writer
writes) and hands whole lines to the event loop in batches, so the producer keeps
delivering while the input is quiet. Every batch says where its last line ends
(inode and byte offset), which ``sitelog ingest`` saves to resume exactly there.

Follow mode (``tail -F``): at the end of a regular file the reader polls; when the
path names a new file (rotated by ``mv`` and recreated) it finishes the old one
and continues with the new one from its start; when the file shrank (truncated in
place) it starts over from the top. A FIFO is opened read-write in follow mode so
that it never reports end-of-file when its writers come and go.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from engine.errors import ConfigError

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading stopped: the file's inode and the byte offset after the last whole line."""

    inode: int
    offset: int


@dataclass(frozen=True, slots=True)
class Batch:
    lines: list[tuple[int, str]]  # (line number, text without the newline)
    position: Position


class LineSource:
    """Batches of lines from ``path`` (``-``: stdin)."""

    def __init__(
        self,
        path: str,
        *,
        follow: bool = False,
        start: Position | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        self.path = path
        self.follow = follow
        self.start = start
        self.poll_interval = poll_interval
        self._stopping = threading.Event()
        self._fd = -1

    def stop(self) -> None:
        self._stopping.set()

    async def batches(self) -> AsyncIterator[Batch]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Batch | BaseException | None] = asyncio.Queue(maxsize=16)

        def put(item: Batch | BaseException | None) -> None:
            # Blocks the reader thread while the loop is behind: the input waits, no memory grows.
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def read() -> None:
            try:
                for batch in self._read():
                    put(batch)
                put(None)
            except BaseException as exc:
                put(exc)

        fd = self._open()  # in the caller, so a missing file is an error at once
        self._fd = fd
        threading.Thread(target=read, name=f"read {self.path}", daemon=True).start()
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # -- the reader thread ---------------------------------------------------------------

    def _open(self) -> int:
        if self.path == "-":
            return os.dup(0)
        try:
            mode = os.stat(self.path).st_mode
            flags = os.O_RDWR if (stat.S_ISFIFO(mode) and self.follow) else os.O_RDONLY
            fd = os.open(self.path, flags)
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror}") from None
        if self.start is not None and stat.S_ISREG(mode):
            if os.fstat(fd).st_ino == self.start.inode:
                os.lseek(fd, self.start.offset, os.SEEK_SET)
            else:
                log.warning(
                    "%s was rotated while sitelog was away: reading the new file from its start",
                    self.path,
                )
        return fd

    def _read(self) -> Iterator[Batch]:
        fd = self._fd
        number = 0
        rest = b""
        offset = os.lseek(fd, 0, os.SEEK_CUR) if self._seekable(fd) else 0
        inode = os.fstat(fd).st_ino
        try:
            while not self._stopping.is_set():
                data = os.read(fd, _CHUNK)
                if data:
                    *whole, rest = (rest + data).split(b"\n")
                    if whole:
                        offset += sum(len(line) + 1 for line in whole)
                        lines = []
                        for raw in whole:
                            number += 1
                            lines.append((number, raw.rstrip(b"\r").decode("utf-8", "replace")))
                        yield Batch(lines, Position(inode, offset))
                    continue
                if not self.follow:
                    break
                reopened = self._after_end(fd, inode, offset + len(rest))
                if reopened is None:
                    time.sleep(self.poll_interval)
                    continue
                os.close(fd)
                fd, inode, offset, rest = reopened, os.fstat(reopened).st_ino, 0, b""
            if rest and not self.follow:  # a last line without its newline still counts
                number += 1
                yield Batch(
                    [(number, rest.decode("utf-8", "replace"))], Position(inode, offset + len(rest))
                )
        finally:
            os.close(fd)

    def _after_end(self, fd: int, inode: int, size: int) -> int | None:
        """A new descriptor when the followed file was rotated or truncated, else None."""
        if self.path == "-" or not self._seekable(fd):
            return None
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return None  # moved away, not yet recreated
        if current.st_ino != inode:
            log.info("%s was rotated: following the new file", self.path)
            return os.open(self.path, os.O_RDONLY)
        if current.st_size < size:
            log.info("%s was truncated: reading it from the start", self.path)
            return os.open(self.path, os.O_RDONLY)
        return None

    @staticmethod
    def _seekable(fd: int) -> bool:
        return stat.S_ISREG(os.fstat(fd).st_mode)
