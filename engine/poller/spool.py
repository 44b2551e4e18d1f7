"""The producer's durable spool: encoded records on disk until the site's brokers acknowledge them.

A directory of append-only segment files plus an ``acked`` file holding the position
(segment, byte offset) up to which the brokers have acknowledged everything. A
record is accepted once it is written to a segment, so a producer killed at any
moment loses nothing it accepted: the next one resends from the acknowledged
position (at-least-once; consumers drop duplicates by event id).

Records are written in chunks, one per :meth:`Spool.append`, each framed with its
length, a CRC-32 and its record count, so a chunk torn by a crash mid-write is
found and cut off on the next open. The spool does blocking file I/O: each call is
one write of a chunk to the page cache (plus an fsync when asked), short enough to
run on the event loop.

Disk use is bounded by ``max_bytes``. When a chunk would exceed it the producer
applies its policy (``engine.poller.producer``): wait for the brokers, or drop the oldest
segment, which :meth:`Spool.drop_oldest` does and counts.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError

#: A spooled record: Kafka key and value.
Record = tuple[bytes, bytes]

_CHUNK = struct.Struct(">III")  # payload length, CRC-32 of the payload, record count
_RECORD = struct.Struct(">HI")  # key length, value length
_SEGMENT = re.compile(r"^segment-(\d{12})\.spool$")
_ACKED = "acked"
_LOCK = "lock"


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A byte position in the spool: segment number and offset in it."""

    segment: int
    offset: int


def _segment_name(number: int) -> str:
    return f"segment-{number:012d}.spool"


def encode_chunk(records: Sequence[Record]) -> bytes:
    """One framed chunk holding ``records``."""
    parts = []
    for key, value in records:
        parts.append(_RECORD.pack(len(key), len(value)))
        parts.append(key)
        parts.append(value)
    payload = b"".join(parts)
    return _CHUNK.pack(len(payload), zlib.crc32(payload), len(records)) + payload


def decode_chunks(data: bytes) -> tuple[list[Record], int]:
    """The records of the whole chunks at the start of ``data``, and the bytes they span.

    Stops at the first incomplete or corrupt chunk: what follows it is a torn write.
    """
    records: list[Record] = []
    position = 0
    end = len(data)
    while position + _CHUNK.size <= end:
        size, crc, count = _CHUNK.unpack_from(data, position)
        start = position + _CHUNK.size
        payload = data[start : start + size]
        if len(payload) < size or zlib.crc32(payload) != crc:
            break
        cursor = 0
        for _ in range(count):
            key_size, value_size = _RECORD.unpack_from(payload, cursor)
            cursor += _RECORD.size
            key = payload[cursor : cursor + key_size]
            cursor += key_size
            records.append((key, payload[cursor : cursor + value_size]))
            cursor += value_size
        position = start + size
    return records, position


class Spool:
    """Segment files in ``directory``; one writer process at a time (the producer)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int | None = None,
        fsync: bool = True,
    ) -> None:
        if max_bytes < 1024 * 1024:
            raise ConfigError(f"spool max_bytes {max_bytes} is below 1 MiB")
        self.directory = directory
        self.max_bytes = max_bytes
        # Several segments fit in the bound, so dropping the oldest frees part of it only.
        self.segment_bytes = segment_bytes or min(64 * 1024 * 1024, max_bytes // 8)
        self.fsync = fsync
        self._sizes: dict[int, int] = {}  # segment number -> bytes written
        self._counts: dict[int, int] = {}  # segment number -> records not yet acknowledged
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self.acked = Position(0, 0)

    # -- opening: recovery after a crash -------------------------------------------------

    def open(self) -> None:
        """Read what a previous producer left: acknowledged position, segments, torn tail."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create spool directory {self.directory}: {exc.strerror}"
            ) from None
        self._lock()
        self.acked = _read_acked(self.directory)
        numbers = _segment_numbers(self.directory)
        for number in numbers:
            if number < self.acked.segment:
                self._path(number).unlink()
                continue
            data = self._path(number).read_bytes()
            start = self.acked.offset if number == self.acked.segment else 0
            records, good = decode_chunks(data[start:])
            if start + good < len(data):  # torn by a crash: the caller never saw it accepted
                with open(self._path(number), "r+b") as f:
                    f.truncate(start + good)
            self._sizes[number] = start + good
            self._counts[number] = len(records)
        if not self._sizes:
            self._sizes[self.acked.segment] = self.acked.offset
            self._counts[self.acked.segment] = 0
        self._open_last()

    def _lock(self) -> None:
        # Two producers appending to one spool would interleave their chunks.
        fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"spool {self.directory} is in use by another producer (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _open_last(self) -> None:
        number = max(self._sizes)
        self._fd = os.open(self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    # -- writing -------------------------------------------------------------------------

    @property
    def used_bytes(self) -> int:
        """Bytes on disk from the acknowledged position on."""
        return sum(self._sizes.values()) - self.acked.offset

    @property
    def pending(self) -> int:
        """Records written and not yet acknowledged."""
        return sum(self._counts.values())

    @property
    def end(self) -> Position:
        last = max(self._sizes)
        return Position(last, self._sizes[last])

    def fits(self, size: int) -> bool:
        return self.used_bytes + size <= self.max_bytes

    def append(self, records: Sequence[Record]) -> int:
        """Write one chunk; returns its size. The caller has checked :meth:`fits`."""
        if self._fd is None:
            raise RuntimeError("the spool is not open")
        chunk = encode_chunk(records)
        last = max(self._sizes)
        if self._sizes[last] and self._sizes[last] + len(chunk) > self.segment_bytes:
            os.close(self._fd)
            last += 1
            self._sizes[last] = 0
            self._counts[last] = 0
            self._open_last()
        os.write(self._fd, chunk)
        if self.fsync:
            os.fsync(self._fd)
        self._sizes[last] += len(chunk)
        self._counts[last] += len(records)
        return len(chunk)

    # -- reading and acknowledging ---------------------------------------------------------

    def read(self, position: Position, max_bytes: int) -> tuple[list[Record], Position]:
        """Whole chunks from ``position``, about ``max_bytes`` of them, and where they end."""
        position = max(position, self.acked)
        while position.segment in self._sizes:
            size = self._sizes[position.segment]
            if position.offset < size:
                with open(self._path(position.segment), "rb") as f:
                    f.seek(position.offset)
                    data = f.read(min(size - position.offset, max_bytes))
                records, used = decode_chunks(data)
                if not records:  # one chunk larger than max_bytes: read it whole
                    with open(self._path(position.segment), "rb") as f:
                        f.seek(position.offset)
                        records, used = decode_chunks(f.read(size - position.offset))
                return records, Position(position.segment, position.offset + used)
            if position.segment == max(self._sizes):
                break
            position = Position(position.segment + 1, 0)
        return [], position

    def acknowledge(self, position: Position, records: int) -> None:
        """The brokers hold every record before ``position`` (``records`` since the last call)."""
        if position <= self.acked or position.segment not in self._sizes:
            return  # that round's segment was dropped while it was in flight
        remaining = records
        for number in sorted(self._counts):
            if number > position.segment or not remaining:
                break
            taken = min(remaining, self._counts[number])
            self._counts[number] -= taken
            remaining -= taken
        self.acked = position
        self._write_acked(position)
        for number in [n for n in self._sizes if n < position.segment]:
            del self._sizes[number]
            del self._counts[number]
            self._path(number).unlink(missing_ok=True)

    def drop_oldest(self) -> int:
        """Delete the oldest segment that is not being written; returns the records lost."""
        numbers = sorted(self._sizes)
        if len(numbers) < 2:
            return 0
        oldest = numbers[0]
        lost = self._counts.pop(oldest)
        del self._sizes[oldest]
        self._path(oldest).unlink(missing_ok=True)
        self.acked = Position(numbers[1], 0)
        self._write_acked(self.acked)
        return lost

    # -- the acknowledged position file ----------------------------------------------------

    def _path(self, number: int) -> Path:
        return self.directory / _segment_name(number)

    def _write_acked(self, position: Position) -> None:
        # Written aside and renamed, so a crash leaves the old position or the new one.
        tmp = self.directory / f"{_ACKED}.tmp"
        tmp.write_text(f"{position.segment} {position.offset}\n", encoding="ascii")
        os.replace(tmp, self.directory / _ACKED)


def _read_acked(directory: Path) -> Position:
    path = directory / _ACKED
    try:
        segment, offset = path.read_text(encoding="ascii").split()
        return Position(int(segment), int(offset))
    except FileNotFoundError:
        return Position(0, 0)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"spool {path} is unreadable: {exc}") from None


def _segment_numbers(directory: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in directory.iterdir() if (m := _SEGMENT.match(p.name)))


def pending_records(directory: Path) -> list[Record]:
    """The records of a spool not yet acknowledged, read without taking it (for inspection)."""
    acked = _read_acked(directory)
    records: list[Record] = []
    numbers = _segment_numbers(directory)
    for number in numbers:
        if number < acked.segment:
            continue
        data = (directory / _segment_name(number)).read_bytes()
        start = acked.offset if number == acked.segment else 0
        records += decode_chunks(data[start:])[0]
    return records
