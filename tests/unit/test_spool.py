"""The producer's spool on its own: framing, recovery after a crash, acknowledgement, bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.poller.spool import Position, Spool, decode_chunks, encode_chunk, pending_records

records = st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=300)), max_size=20)
MiB = 1024 * 1024


@given(chunks=st.lists(records, max_size=8))
def test_chunks_round_trip(chunks: list[list[tuple[bytes, bytes]]]) -> None:
    data = b"".join(encode_chunk(chunk) for chunk in chunks)
    decoded, used = decode_chunks(data)
    assert decoded == [record for chunk in chunks for record in chunk]
    assert used == len(data)


@given(chunks=st.lists(records, min_size=1, max_size=6), data=st.data())
def test_a_torn_write_decodes_to_the_whole_chunks_before_it(
    chunks: list[list[tuple[bytes, bytes]]], data: st.DataObject
) -> None:
    encoded = [encode_chunk(chunk) for chunk in chunks]
    whole = data.draw(st.integers(0, len(chunks) - 1))
    cut = data.draw(st.integers(0, len(encoded[whole]) - 1))
    torn = b"".join(encoded[:whole]) + encoded[whole][:cut]
    decoded, used = decode_chunks(torn)
    assert decoded == [record for chunk in chunks[:whole] for record in chunk]
    assert used == sum(len(e) for e in encoded[:whole])


def _spool(
    path: Path, *, max_bytes: int = 8 * MiB, segment_bytes: int | None = None, fsync: bool = True
) -> Spool:
    spool = Spool(path, max_bytes=max_bytes, segment_bytes=segment_bytes, fsync=fsync)
    spool.open()
    return spool


def test_what_was_appended_survives_a_reopen_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    spool = _spool(tmp_path, fsync=False)
    spool.append([(b"h1", b"a"), (b"h2", b"b")])
    spool.append([(b"h1", b"c")])
    spool.close()
    segment = next(tmp_path.glob("segment-*.spool"))
    with open(segment, "ab") as f:  # a crash in the middle of the next write
        f.write(encode_chunk([(b"h3", b"lost")])[:9])
    reopened = _spool(tmp_path, fsync=False)
    assert reopened.pending == 3
    assert reopened.read(reopened.acked, MiB)[0] == [(b"h1", b"a"), (b"h2", b"b"), (b"h1", b"c")]
    reopened.append([(b"h4", b"d")])
    assert pending_records(tmp_path)[-1] == (b"h4", b"d")


def test_acknowledged_records_are_not_read_again_and_old_segments_go(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_bytes=MiB, segment_bytes=1024, fsync=False)
    for i in range(30):
        spool.append([(b"k", bytes([i]) * 100)])
    assert len(list(tmp_path.glob("segment-*.spool"))) > 2
    first, end = spool.read(spool.acked, 2048)
    spool.acknowledge(end, len(first))
    assert spool.pending == 30 - len(first)
    spool.close()
    reopened = _spool(tmp_path, max_bytes=MiB, segment_bytes=1024, fsync=False)
    rest = pending_records(tmp_path)
    assert [r[1][0] for r in rest] == list(range(len(first), 30))
    assert reopened.pending == len(rest)
    everything_read = []
    position = reopened.acked
    while batch := reopened.read(position, 4096):
        if not batch[0]:
            break
        everything_read += batch[0]
        position = batch[1]
    reopened.acknowledge(position, len(everything_read))
    assert reopened.pending == 0
    assert len(list(tmp_path.glob("segment-*.spool"))) == 1


def test_dropping_the_oldest_segment_counts_what_is_lost(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_bytes=MiB, segment_bytes=1024, fsync=False)
    for i in range(20):
        spool.append([(b"k", bytes([i]) * 200)])
    before = spool.pending
    lost = spool.drop_oldest()
    assert lost > 0 and spool.pending == before - lost
    assert [r[1][0] for r in pending_records(tmp_path)] == list(range(lost, 20))
    assert spool.acked > Position(0, 0)


def test_two_producers_cannot_share_a_spool(tmp_path: Path) -> None:
    _spool(tmp_path)
    with pytest.raises(ConfigError, match=f"in use by another producer \\(pid {os.getpid()}\\)"):
        _spool(tmp_path)


def test_a_bound_below_one_mebibyte_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="below 1 MiB"):
        Spool(tmp_path, max_bytes=1000)


@settings(max_examples=20)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=30), acks=st.data())
def test_pending_always_counts_appended_minus_acknowledged(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], acks: st.DataObject
) -> None:
    directory = tmp_path_factory.mktemp("spool")
    spool = _spool(directory, max_bytes=MiB, segment_bytes=512, fsync=False)
    appended = acknowledged = 0
    for size in sizes:
        spool.append([(b"k", b"v" * 50)] * size)
        appended += size
        if acks.draw(st.booleans()):
            read, end = spool.read(spool.acked, acks.draw(st.integers(1, 2048)))
            spool.acknowledge(end, len(read))
            acknowledged += len(read)
        assert spool.pending == appended - acknowledged == len(pending_records(directory))
    spool.close()
