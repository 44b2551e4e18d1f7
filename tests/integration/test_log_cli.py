"""``sitelog log inspect`` and ``sitelog log verify``, run as an administrator would (a
subprocess) against a log holding a known mix; and their accounting, filtering and time
parsing without a broker.

The mix: simulated events, three of them written again as a producer retry would, and
three records that do not decode (not Avro at all, an unknown schema, a cut body).
"""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.cli import main
from engine.errors import ConfigError
from engine.log.inspection import EventFilter, LogVerification, OffsetRange, plan_ranges
from engine.log.kafka import KafkaSettings
from engine.log.records import DeadLetter, PartitionOffsets
from engine.log.writer import SiteLogWriter
from engine.poller import simulation
from engine.times import format_time, parse_time
from schemas.codec import MAGIC, Codec
from schemas.errors import DecodeError
from schemas.event import Event
from schemas.json_form import event_to_json
from schemas.types import event_id_str
from tests.support.cli import sitelog

Position = tuple[int, int]
TRAFFIC = simulation.Traffic(sites=("x",), hosts_per_site=3, services_per_host=2)


def new_site() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def sample_events(site: str, count: int, operator_rate: float = 0.15) -> list[Event]:
    traffic = dataclasses.replace(TRAFFIC, sites=(site,), operator_rate=operator_rate)
    return list(simulation.events(count, traffic, seed=7))


@dataclasses.dataclass
class Mix:
    """A site log written by the tests: what is at each position (an event, or a bad record)."""

    site: str
    bootstrap: str
    events: dict[Position, Event]
    bad: dict[Position, tuple[str, bytes, bytes]]  # reason, key, value
    duplicated: dict[bytes, list[Position]]  # event id -> every position holding it

    def positions(self) -> list[Position]:
        return sorted([*self.events, *self.bad])


async def _write_mix(site: str, kafka: KafkaSettings) -> Mix:
    codec = Codec()
    sent = sample_events(site, 60)
    cut_body = MAGIC + codec.fingerprint + codec.encode(sent[1])[10:30]
    bad_values = [
        ("bad-magic", b"web", b"not an event"),
        ("unknown-fingerprint", b"web", MAGIC + b"\x01" * 8 + codec.encode(sent[2])[10:]),
        ("bad-body", sent[1].key.encode(), cut_body),
    ]
    for reason, _key, value in bad_values:
        with pytest.raises(DecodeError) as err:
            codec.decode(value)
        assert err.value.reason == reason
    retried = [sent[0], sent[5], sent[5]]
    async with SiteLogWriter(site, kafka) as writer:
        appended = await writer.append_many(sent)
        pending = [await writer.send_raw(e.key.encode(), codec.encode(e)) for e in retried]
        pending += [await writer.send_raw(key, value) for _, key, value in bad_values]
        extra = await writer.acknowledged(pending)
    events = {(a.partition, a.offset): e for a, e in zip(appended, sent, strict=True)}
    copies, bad_places = extra[: len(retried)], extra[len(retried) :]
    events |= {(a.partition, a.offset): e for a, e in zip(copies, retried, strict=True)}
    bad = {(a.partition, a.offset): b for a, b in zip(bad_places, bad_values, strict=True)}
    duplicated: dict[bytes, list[Position]] = {}
    for position, event in sorted(events.items()):
        duplicated.setdefault(event.event_id, []).append(position)
    duplicated = {i: ps for i, ps in duplicated.items() if len(ps) > 1}
    return Mix(site, kafka.bootstrap_servers, events, bad, duplicated)


@pytest.fixture(scope="module")
def mix(kafka: KafkaSettings) -> Mix:
    return asyncio.run(_write_mix(new_site(), kafka))


def log_command(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Exit status, JSON lines printed, and stderr of ``sitelog log ARGS``."""
    result = sitelog("log", *args, timeout=30)
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    return result.returncode, lines, result.stderr


def inspect(mix: Mix, *args: str) -> list[dict[str, Any]]:
    status, lines, stderr = log_command(
        "inspect", "--site", mix.site, "--bootstrap", mix.bootstrap, *args
    )
    assert status == 0, stderr
    assert stderr == ""
    return lines


def in_parallel(mix: Mix, *arg_lists: tuple[str, ...]) -> list[list[dict[str, Any]]]:
    """``inspect`` with each argument list, run concurrently to keep the file fast."""
    with ThreadPoolExecutor(len(arg_lists)) as pool:
        return list(pool.map(lambda args: inspect(mix, *args), arg_lists))


def where(lines: list[dict[str, Any]]) -> list[Position]:
    return [(line["partition"], line["offset"]) for line in lines]


def events_where(lines: list[dict[str, Any]]) -> list[Position]:
    return [(line["partition"], line["offset"]) for line in lines if "event" in line]


def test_inspect_prints_every_record_once_in_partition_then_offset_order(mix: Mix) -> None:
    lines = inspect(mix)
    assert where(lines) == mix.positions()
    for line in lines:
        position = (line["partition"], line["offset"])
        if position in mix.events:
            expected = event_to_json(mix.events[position])
            assert line["event"] == orjson.loads(orjson.dumps(expected))
        else:
            reason, key, value = mix.bad[position]
            assert line["dead_letter"]["reason"] == reason
            assert line["dead_letter"]["key"] == key.hex()
            assert line["dead_letter"]["value_bytes"] == len(value)


def test_inspect_reads_exactly_the_offsets_asked_for(mix: Mix) -> None:
    fullest = Counter(p for p, _ in mix.positions()).most_common(1)[0][0]
    one, every, limited = in_parallel(
        mix,
        ("--partition", str(fullest), "--from-offset", "2", "--to-offset", "5"),
        ("--from-offset", "1", "--to-offset", "3"),
        ("--limit", "4"),
    )
    assert where(one) == [(fullest, 2), (fullest, 3), (fullest, 4)]
    assert where(every) == [(p, o) for p, o in mix.positions() if 1 <= o < 3]
    assert where(limited) == mix.positions()[:4]


def test_inspect_filters_by_subject_host_and_type_and_keeps_dead_letters(mix: Mix) -> None:
    service = next(e for e in mix.events.values() if "/" in e.subject)
    host = service.key
    by_subject, host_level, by_host, by_type = in_parallel(
        mix,
        ("--subject", service.subject),
        ("--subject", host),
        ("--host", host, "--type", "ServiceCheckResult", "--type", "DowntimeScheduled"),
        ("--type", "HostCheckResult"),
    )

    def expected(keep: Any) -> list[Position]:
        return sorted(p for p, e in mix.events.items() if keep(e))

    assert events_where(by_subject) == expected(lambda e: e.subject == service.subject)
    assert events_where(host_level) == expected(lambda e: e.subject == host)
    assert events_where(by_host) == expected(
        lambda e: e.key == host and e.type_name in ("ServiceCheckResult", "DowntimeScheduled")
    )
    assert events_where(by_type) == expected(lambda e: e.type_name == "HostCheckResult")
    assert len(expected(lambda e: e.key == host)) > len(events_where(by_host)) > 0
    for lines in (by_subject, host_level, by_host, by_type):
        assert [p for p in where(lines) if p in mix.bad] == sorted(mix.bad)


def test_inspect_keeps_events_whose_time_is_in_the_half_open_range(mix: Mix) -> None:
    times = sorted({e.event_time for e in mix.events.values()})
    since, until = times[10], times[30]
    since_iso = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=since)).isoformat()
    lines = inspect(mix, "--since", since_iso.replace("+00:00", "Z"), "--until", str(until))
    got = events_where(lines)
    assert got == sorted(p for p, e in mix.events.items() if since <= e.event_time < until)
    got_times = {mix.events[p].event_time for p in got}
    assert since in got_times and until not in got_times


def test_verify_reports_types_duplicates_and_undecodable_records(mix: Mix) -> None:
    args = ("verify", "--site", mix.site, "--bootstrap", mix.bootstrap)
    with ThreadPoolExecutor(2) as pool:
        as_json, as_text = pool.map(lambda extra: sitelog("log", *args, *extra), [["--json"], []])
    assert as_json.returncode == 1, as_json.stderr
    report = orjson.loads(as_json.stdout)
    assert report["clean"] is False
    assert report["event_types"] == dict(Counter(e.type_name for e in mix.events.values()))
    assert report["duplicates"]["count"] == 3
    assert {
        d["event_id"]: [tuple(p) for p in d["positions"]] for d in report["duplicates"]["first"]
    } == {event_id_str(i): ps for i, ps in mix.duplicated.items()}
    assert report["undecodable"]["count"] == 3
    assert report["undecodable"]["by_reason"] == {
        "bad-magic": 1,
        "bad-body": 1,
        "unknown-fingerprint": 1,
    }
    assert {(d["partition"], d["offset"]) for d in report["undecodable"]["first"]} == set(mix.bad)
    read = {p["partition"]: p["records_read"] for p in report["partitions"]}
    written = Counter(p for p, _ in mix.positions())
    assert set(written) <= set(read) and read == {p: written[p] for p in read}
    assert all(p["log_end"] - p["log_start"] == p["records_read"] for p in report["partitions"])
    assert report["totals"] == {
        "records": len(mix.positions()),
        "events": len(mix.events),
        "distinct_events": len(mix.events) - 3,
        "undecodable": 3,
        "duplicates": 3,
    }
    assert as_text.returncode == 1, as_text.stderr
    assert (
        "undecodable records: 3 (bad-body 1, bad-magic 1, unknown-fingerprint 1)" in as_text.stdout
    )
    assert f"totals: {len(mix.positions())} records read" in as_text.stdout
    assert as_text.stdout.rstrip().endswith("SOME RECORDS DO NOT DECODE")


def test_verify_of_a_clean_log_exits_0(kafka: KafkaSettings) -> None:
    site = new_site()

    async def write() -> None:
        async with SiteLogWriter(site, kafka) as writer:
            await writer.append_many(sample_events(site, 12))

    asyncio.run(write())
    result = sitelog(
        "log", "verify", "--site", site, "--bootstrap", kafka.bootstrap_servers, "--json"
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["clean"] is True
    assert report["totals"]["records"] == report["totals"]["distinct_events"] == 12
    assert report["duplicates"]["count"] == report["undecodable"]["count"] == 0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: the worst case of a WAN cut."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield silent.getsockname()[1]


NOWHERE = ("--bootstrap", "127.0.0.1:9", "--connect-timeout", "2")
BAD_OPTIONS = [
    (("--from-offset", "5", "--to-offset", "2"), "--to-offset 2 is before --from-offset 5"),
    (("--from-offset", "-1"), "--from-offset -1: offsets are not negative"),
    (("--type", "Nope"), "--type 'Nope' is not an event type; known: AcknowledgementRemoved,"),
    (("--since", "yesterday"), "--since 'yesterday': expected ISO 8601"),
    (("--since", "2026-02-01", "--until", "2026-01-01"), "--until is before --since"),
    (("--limit", "0"), "--limit 0: expected at least 1"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_bad_options_are_refused_in_one_line_before_connecting(
    options: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In process, for speed; the subprocess test below runs the console script itself.
    # NOWHERE: no broker listens there, so a refusal cannot come from a broker.
    assert main(["log", "inspect", "--site", "paris", *NOWHERE, *options]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"sitelog: error: {message}")


def test_bad_options_and_unreachable_brokers_give_one_line_and_exit_2(
    mix: Mix, silent_port: int
) -> None:
    inspect_ = ("log", "inspect", "--site", mix.site)
    silent = ("--bootstrap", f"127.0.0.1:{silent_port}", "--connect-timeout", "1")
    cases = [
        ((*inspect_, *NOWHERE, *BAD_OPTIONS[0][0]), BAD_OPTIONS[0][1]),
        ((*inspect_, "--bootstrap", ""), "no Kafka bootstrap servers"),
        ((*inspect_, "--bootstrap", mix.bootstrap, "--partition", "99"), "--partition 99: the"),
        ((*inspect_, *NOWHERE), "127.0.0.1:9: brokers unreachable"),
        (("log", "verify", "--site", mix.site, *silent), "no answer within 1s"),
    ]
    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda case: sitelog(*case[0], timeout=20), cases))
    for (args, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("sitelog: error: ") and message in result.stderr, args


def test_inspect_ends_at_the_log_end_it_found_while_the_log_grows(kafka: KafkaSettings) -> None:
    site = new_site()
    written = 0
    enough, stop = threading.Event(), threading.Event()

    async def keep_writing() -> None:
        nonlocal written
        traffic = dataclasses.replace(TRAFFIC, sites=(site,))
        stream = simulation.events(10**6, traffic)
        async with SiteLogWriter(site, kafka) as writer:
            while not stop.is_set():
                await writer.append_many([next(stream) for _ in range(20)])
                written += 20
                if written >= 100:
                    enough.set()

    writer = threading.Thread(target=lambda: asyncio.run(keep_writing()), daemon=True)
    writer.start()
    try:
        assert enough.wait(20), "the writer did not write 100 events within 20s"
        before = written
        status, lines, stderr = log_command(
            "inspect", "--site", site, "--bootstrap", kafka.bootstrap_servers
        )
    finally:
        stop.set()
        writer.join(20)
    assert status == 0, stderr
    # It printed at least what was acknowledged before it started, and stopped although
    # the log went on growing.
    assert before <= len(lines) < written
    # What it printed is every partition's prefix: no offset skipped, none twice.
    per_partition: dict[int, list[int]] = {}
    for partition, offset in where(lines):
        per_partition.setdefault(partition, []).append(offset)
    assert all(offsets == list(range(len(offsets))) for offsets in per_partition.values())


# Without a broker: time parsing, filtering, offset planning and the verification figures.

MAX_MICROS = (
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
) // timedelta(microseconds=1)
offsets_from_utc = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.integers(0, MAX_MICROS))
def test_microseconds_survive_iso_8601_and_back(micros: int) -> None:
    text = format_time(micros)
    assert text.endswith("Z")
    assert parse_time(text) == micros
    assert parse_time(str(micros)) == micros


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)),
    offsets_from_utc,
)
def test_iso_8601_with_any_offset_is_the_same_instant_and_naive_means_utc(
    moment: datetime, zone: timezone
) -> None:
    aware = moment.replace(tzinfo=zone)
    expected = calendar.timegm(aware.utctimetuple()) * 1_000_000 + aware.microsecond
    assert parse_time(aware.isoformat()) == expected
    naive_expected = calendar.timegm(moment.timetuple()) * 1_000_000 + moment.microsecond
    assert parse_time(moment.isoformat()) == naive_expected


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-13-01",
        "-5",
        "1.5",
        "",
        "12:00",
        "\N{SUPERSCRIPT TWO}",
    ],
)
def test_a_time_that_is_neither_iso_nor_microseconds_is_refused_by_name(text: str) -> None:
    with pytest.raises(ConfigError, match="--until"):
        parse_time(text, option="--until")


EVENTS = sample_events("unit", 40, operator_rate=0.3)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 2 * 10**6))
def test_the_time_filter_is_half_open(since: int, length: int, when: int) -> None:
    event = dataclasses.replace(EVENTS[0], event_time=when)
    kept = EventFilter(since=since, until=since + length).matches(event)
    assert kept == (since <= when < since + length)


def test_filters_combine_with_and_and_values_with_or() -> None:
    host = EVENTS[0].key
    wanted = EventFilter(
        hosts=frozenset({host}), types=frozenset({"HostCheckResult", "CommentAdded"})
    )
    kept = [e for e in EVENTS if wanted.matches(e)]
    assert kept == [
        e for e in EVENTS if e.key == host and e.type_name in ("HostCheckResult", "CommentAdded")
    ]
    assert kept and len(kept) < len([e for e in EVENTS if e.key == host])
    letter = DeadLetter("unit", 0, 0, "bad-magic", "bad-magic: x", b"k", b"x")
    assert EventFilter(types=frozenset({"Lease"})).keeps(letter)


def test_offset_plans_are_cut_to_the_log_and_checked() -> None:
    log = {0: PartitionOffsets(5, 20), 1: PartitionOffsets(0, 3)}
    assert plan_ranges(log) == {0: OffsetRange(5, 20), 1: OffsetRange(0, 3)}
    assert plan_ranges(log, [1], 1, 100) == {1: OffsetRange(1, 3)}
    assert plan_ranges(log, (), 0, 4) == {0: OffsetRange(5, 5), 1: OffsetRange(0, 3)}
    with pytest.raises(ConfigError, match="--partition 2"):
        plan_ranges(log, [2])
    with pytest.raises(ConfigError, match="--to-offset 1 is before --from-offset 2"):
        plan_ranges(log, (), 2, 1)
    # A time seek's starts only ever move a read's start up, and never past its stop.
    seek = {0: 12, 1: 3}
    assert plan_ranges(log, starts=seek) == {0: OffsetRange(12, 20), 1: OffsetRange(3, 3)}
    assert plan_ranges(log, (), 15, 18, seek) == {0: OffsetRange(15, 18), 1: OffsetRange(15, 15)}
    assert plan_ranges(log, [0], starts={0: 2}) == {0: OffsetRange(5, 20)}


records = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.one_of(st.sampled_from(EVENTS), st.sampled_from(["bad-magic", "bad-body"])),
    ),
    max_size=80,
)


@given(records)
def test_verification_figures_add_up_for_any_sequence_of_records(
    sequence: list[tuple[int, Event | str]],
) -> None:
    audit = LogVerification(examples=3)
    for partition in range(4):
        audit.add_partition(partition, PartitionOffsets(0, 1000))
    next_offset = Counter[int]()
    for partition, item in sequence:
        offset = next_offset[partition]
        next_offset[partition] += 1
        if isinstance(item, str):
            audit.add(
                partition, offset, DeadLetter("unit", partition, offset, item, item, None, None)
            )
        else:
            audit.add(partition, offset, item)
    events = [item for _, item in sequence if isinstance(item, Event)]
    assert audit.records == len(sequence) == audit.events + audit.undecodable
    assert audit.distinct_events == len({e.event_id for e in events})
    assert audit.duplicates == len(events) - audit.distinct_events
    assert audit.types == Counter(e.type_name for e in events)
    assert audit.reasons == Counter(item for _, item in sequence if isinstance(item, str))
    assert audit.clean == (audit.undecodable == 0)
    assert len(audit.duplicate_examples) == min(
        3, len({e.event_id for e in events if events.count(e) > 1})
    )
    assert all(2 <= len(seen) <= 3 for seen in audit.duplicate_examples.values())
    assert {p: t.records_read for p, t in audit.partitions.items()} == {
        p: next_offset[p] for p in range(4)
    }
    if events:
        assert (audit.earliest, audit.latest) == (
            min(e.event_time for e in events),
            max(e.event_time for e in events),
        )
    orjson.dumps(audit.to_json())  # JSON-ready as it is


def test_verification_shows_where_the_first_duplicates_and_dead_letters_are() -> None:
    audit = LogVerification(examples=2)
    audit.add_partition(0, PartitionOffsets(0, 10))
    audit.add_partition(1, PartitionOffsets(4, 9))
    first, second = EVENTS[0], EVENTS[1]
    sequence: list[tuple[int, int, Event | DeadLetter]] = [
        (0, 0, first),
        (1, 4, second),
        (1, 5, first),
        (0, 1, DeadLetter("unit", 0, 1, "bad-body", "bad-body: cut", b"k", b"\xc3\x01")),
        (1, 6, first),
        (1, 7, second),
    ]
    for partition, offset, item in sequence:
        audit.add(partition, offset, item)
    figures = audit.to_json()
    assert figures["duplicates"] == {
        "count": 3,
        "first": [
            {"event_id": event_id_str(first.event_id), "positions": [[0, 0], [1, 5]]},
            {"event_id": event_id_str(second.event_id), "positions": [[1, 4], [1, 7]]},
        ],
    }
    assert figures["undecodable"]["first"] == [
        {"partition": 0, "offset": 1, "reason": "bad-body", "message": "bad-body: cut"}
    ]
    assert figures["partitions"][1] == {
        "partition": 1,
        "log_start": 4,
        "log_end": 9,
        "records_read": 4,
    }
    assert not audit.clean
