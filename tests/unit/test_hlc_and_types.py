"""The hybrid logical clock and the value types: rules that hold for every input."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import InvalidEventError
from schemas.hlc import LOGICAL_BITS, HybridLogicalClock, pack, unpack
from schemas.types import check_site_name, event_id_str, new_event_id, parse_event_id

wall_readings = st.lists(st.integers(0, 2**40), min_size=1, max_size=50)


@given(readings=wall_readings)
def test_clock_never_goes_backwards_whatever_the_wall_clock_does(readings: list[int]) -> None:
    it = iter(readings)
    clock = HybridLogicalClock(wall_ms=lambda: next(it))
    stamps = [clock.now() for _ in readings]
    assert stamps == sorted(set(stamps))
    for stamp, wall in zip(stamps, readings, strict=True):
        assert unpack(stamp)[0] >= wall  # never behind the wall clock it read


@given(readings=wall_readings, remote=st.integers(0, 2**56))
def test_observing_a_remote_stamp_orders_later_events_after_it(
    readings: list[int], remote: int
) -> None:
    it = iter(readings)
    clock = HybridLogicalClock(wall_ms=lambda: next(it))
    after = clock.observe(remote)
    assert after > remote
    for _ in readings[1:]:
        assert clock.now() > after


def test_logical_counter_overflow_carries_into_milliseconds() -> None:
    clock = HybridLogicalClock(wall_ms=lambda: 5, last=pack(5, 2**LOGICAL_BITS - 1))
    assert unpack(clock.now()) == (6, 0)


@given(physical=st.integers(0, 2**47), logical=st.integers(0, 2**LOGICAL_BITS - 1))
def test_pack_unpack_round_trip(physical: int, logical: int) -> None:
    assert unpack(pack(physical, logical)) == (physical, logical)


@given(ms=st.integers(0, 2**48 - 2))
def test_event_ids_are_uuid7_in_time_order(ms: int) -> None:
    event_id = new_event_id(ms)
    as_uuid = uuid.UUID(bytes=event_id)
    assert as_uuid.version == 7
    assert as_uuid.variant == uuid.RFC_4122
    assert int.from_bytes(event_id[:6], "big") == ms
    assert new_event_id(ms + 1) > event_id
    assert parse_event_id(event_id_str(event_id)) == event_id


@pytest.mark.parametrize("name", ["central", "paris", "site-2", "a", "x_y"])
def test_valid_site_names(name: str) -> None:
    assert check_site_name(name) == name


@pytest.mark.parametrize("name", ["", "Paris", "-x", "a.b", "a/b", "a" * 64, "é"])
def test_invalid_site_names_are_refused_with_the_name(name: str) -> None:
    with pytest.raises(InvalidEventError, match="invalid site name"):
        check_site_name(name)


def test_bad_event_id_text() -> None:
    with pytest.raises(InvalidEventError, match="invalid event id 'nope'"):
        parse_event_id("nope")
