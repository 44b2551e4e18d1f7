"""Tests of engine.dev against the real Tansu and PostgreSQL binaries (no mocks).

Every wait is a condition with a bound; every test leaves no child process behind.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.dev import EmbeddedBroker, EmbeddedPostgres, find_postgres_bindir, find_tansu_binary
from engine.dev.process import ChildProcess, port_accepts
from engine.errors import EmbeddedServiceError

pytestmark = pytest.mark.timeout(120)

TOPIC = "embedded-test"
REPO_ROOT = Path(__file__).resolve().parents[2]


def is_gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting for its new parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _proc_field(index: int, value: int) -> list[int]:
    """Pids whose /proc stat field (counted after the command name) equals ``value``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parenthesised command name may contain spaces; fields after it are fixed.
        if int(stat.rsplit(")", 1)[1].split()[index]) == value:
            pids.append(int(entry.name))
    return pids


def group_members(pgid: int) -> list[int]:
    return _proc_field(2, pgid)


def children_of(pid: int) -> list[int]:
    return _proc_field(1, pid)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


async def create_topic(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, values: list[bytes]) -> None:
    await create_topic(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(TOPIC, value, partition=0)
    finally:
        await producer.stop()


async def consume_from_start(
    bootstrap: str, expected: int, timeout: float
) -> tuple[list[bytes], int | None]:
    """Records of partition 0 from offset 0 (until ``expected`` arrive or ``timeout``),
    and the partition's high watermark as last reported by a fetch.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(TOPIC, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(values) < expected or expected == 0:
            batch = await consumer.getmany(tp, timeout_ms=200)
            values += [record.value for record in batch.get(tp, [])]
            if time.monotonic() > deadline:
                break
        return values, consumer.highwater(tp)
    finally:
        await consumer.stop()


def test_broker_round_trip_then_stop_leaves_nothing() -> None:
    with EmbeddedBroker() as broker:
        assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        pid = broker.pid
        sent = [b"one", b"two", b"three"]
        asyncio.run(produce(broker.bootstrap_servers, sent))
        assert asyncio.run(consume_from_start(broker.bootstrap_servers, 3, 10.0)) == (sent, 3)
    assert_gone(pid)
    assert group_members(pid) == []
    assert not port_accepts(broker.port)


def test_broker_restart_keeps_port_and_empties_log() -> None:
    with EmbeddedBroker() as broker:
        port, first_pid = broker.port, broker.pid
        asyncio.run(produce(broker.bootstrap_servers, [b"before-1", b"before-2"]))
        before = asyncio.run(consume_from_start(broker.bootstrap_servers, 2, 10.0))
        assert before == ([b"before-1", b"before-2"], 2)
        broker.restart()
        assert broker.port == port
        assert broker.pid != first_pid
        assert_gone(first_pid)
        # Memory storage: the topic is gone; recreated, it is empty (the log went back).
        asyncio.run(create_topic(broker.bootstrap_servers))
        assert asyncio.run(consume_from_start(broker.bootstrap_servers, 0, 1.5)) == ([], 0)


def test_broker_child_that_exits_at_once_raises_one_line_quickly() -> None:
    broker = EmbeddedBroker(binary="/bin/false")
    started = time.monotonic()
    with pytest.raises(EmbeddedServiceError) as caught:
        broker.start()
    assert time.monotonic() - started < 5.0
    message = str(caught.value)
    assert "\n" not in message
    assert "/bin/false" in message and "exited with code 1" in message
    broker.stop()


def test_services_refuse_a_port_already_in_use() -> None:
    # Tansu itself exits 0 when it cannot bind, and the squatter would answer for it.
    with EmbeddedBroker() as squatter:
        with pytest.raises(EmbeddedServiceError, match="is in use"):
            EmbeddedBroker(port=squatter.port).start()
        with pytest.raises(EmbeddedServiceError, match="is in use"):
            EmbeddedPostgres(port=squatter.port).start()
        assert squatter.pid > 0


def test_broker_binary_override_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITELOG_TANSU_BINARY", "/nonexistent/tansu")
    with pytest.raises(EmbeddedServiceError, match=r"SITELOG_TANSU_BINARY.*/nonexistent/tansu"):
        find_tansu_binary()
    monkeypatch.delenv("SITELOG_TANSU_BINARY")
    assert find_tansu_binary().name == "tansu"


def test_broker_that_never_listens_times_out_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = tmp_path / "silent-broker"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    script.chmod(0o755)
    broker = EmbeddedBroker(binary=script, startup_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(EmbeddedServiceError, match="did not accept connections"):
        broker.start()
    assert time.monotonic() - started < 5.0
    assert_gone(int(pid_file.read_text()))


def test_stop_escalates_to_sigkill_of_the_process_group(tmp_path: Path) -> None:
    grandchild_file = tmp_path / "grandchild"
    script = tmp_path / "stubborn"
    # SIG_IGN survives exec, so both the shell and its background sleep ignore SIGTERM.
    script.write_text(f"#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $! > {grandchild_file}\nwait\n")
    script.chmod(0o755)
    child = ChildProcess("stubborn", [str(script)], tmp_path / "stubborn.log")
    child.start()
    wait_until(grandchild_file.exists, 5.0, "the grandchild pid file")
    wait_until(lambda: grandchild_file.read_text().strip() != "", 5.0, "the grandchild pid")
    pid, grandchild = child.pid, int(grandchild_file.read_text())
    started = time.monotonic()
    child.stop(timeout=0.5)
    assert 0.4 < time.monotonic() - started < 5.0
    assert_gone(pid)
    # Dead on return; reaping the orphan is init's business (and slow on some machines).
    assert is_gone(grandchild)
    assert [member for member in group_members(pid) if not is_gone(member)] == []
    child.stop()


def test_interpreter_exit_on_exception_stops_children() -> None:
    program = textwrap.dedent(
        """
        from engine.dev import EmbeddedBroker
        broker = EmbeddedBroker().start()
        print(broker.pid, broker.port, flush=True)
        raise RuntimeError("test crashed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "test crashed" in result.stderr
    pid, port = (int(field) for field in result.stdout.split())
    assert_gone(pid)
    assert not port_accepts(port)


def test_postgres_create_database_then_stop_leaves_nothing() -> None:
    with EmbeddedPostgres() as pg:
        pid, work_dir = pg.pid, pg.work_dir
        assert work_dir is not None and work_dir.is_dir()
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("select current_setting('fsync')").fetchone() == ("off",)
        dsn = pg.create_database("sitelog_test")
        assert dsn == pg.dsn_for("sitelog_test")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select 1, current_database()").fetchone() == (1, "sitelog_test")
        pg.drop_database("sitelog_test")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=5).close()
        auxiliaries = children_of(pid)
        assert auxiliaries  # checkpointer, walwriter... (each in its own session)
    assert_gone(pid)
    assert [aux for aux in auxiliaries if not is_gone(aux)] == []
    assert not port_accepts(pg.port)
    assert not work_dir.exists()


def test_postgres_kill_escalation_takes_backends_along() -> None:
    pg = EmbeddedPostgres(stop_timeout=0.0).start()
    pid = pg.pid
    conn = psycopg.connect(pg.dsn)
    row = conn.execute("select pg_backend_pid()").fetchone()
    assert row is not None
    backend = int(row[0])
    workers = children_of(pid)
    assert backend in workers
    # No grace period: straight to SIGKILL, which a postgres backend (own session)
    # would survive if only the postmaster's process group were killed.
    pg.stop()
    conn.close()
    assert_gone(pid)
    # Orphans are reaped by init, not by us: a zombie counts as gone.
    assert [worker for worker in workers if not is_gone(worker)] == []


def test_postgres_runs_unprivileged_when_root() -> None:
    with EmbeddedPostgres() as pg:
        owner_uid = Path(f"/proc/{pg.pid}").stat().st_uid
        if os.geteuid() == 0:
            assert owner_uid != 0
        else:
            assert owner_uid == os.geteuid()


def test_stopping_twice_is_harmless() -> None:
    broker = EmbeddedBroker()
    broker.stop()  # never started
    broker.start()
    pid = broker.pid
    broker.stop()
    broker.stop()
    assert_gone(pid)
    with pytest.raises(EmbeddedServiceError, match="not running"):
        _ = broker.pid

    pg = EmbeddedPostgres()
    pg.stop()
    pg.start()
    pid = pg.pid
    pg.stop()
    pg.stop()
    assert_gone(pid)


def test_postgres_given_data_dir_is_kept_and_shut_down_cleanly() -> None:
    with tempfile.TemporaryDirectory(prefix="sitelog-test-") as parent:
        # When root, the service account must be able to reach the data directory.
        Path(parent).chmod(0o755)
        data_dir = Path(parent) / "data"
        pg = EmbeddedPostgres(data_dir=data_dir).start()
        pg.create_database("kept")
        pid = pg.pid
        started = time.monotonic()
        pg.stop()
        # A fast shutdown (SIGINT) ends well before the SIGKILL escalation would.
        assert time.monotonic() - started < pg.stop_timeout
        assert_gone(pid)
        assert (data_dir / "PG_VERSION").is_file()
        control = subprocess.run(
            [str(find_postgres_bindir() / "pg_controldata"), str(data_dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert "Database cluster state:               shut down" in control
        with (
            EmbeddedPostgres(data_dir=data_dir) as again,
            psycopg.connect(again.dsn_for("kept")) as conn,
        ):
            assert conn.execute("select current_database()").fetchone() == ("kept",)
