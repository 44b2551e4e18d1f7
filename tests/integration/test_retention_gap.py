"""A remote node away longer than its site log's retention, on Apache Kafka (a broker of
this module's own): the records it had not read are deleted meanwhile (``delete_records``,
what retention does to old segments, at offsets of the test's choosing).

Restarted, the node stops that site alone with ``LogGapError`` naming the lost offsets,
``/healthz`` says so, and central's log goes on being projected. Then the recovery
guide's steps (docs/recovery.md, "A node away longer than the log retention") are run as
written, as an administrator would (``sitelog`` processes on the node's TOML file): see
what is left, rebuild from it, let the node take the rebuild up, verify.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from engine.dev.brokers import BrokerKind
from engine.dev.process import free_port
from engine.log.kafka import KafkaSettings
from engine.log.reader import read_log_offsets
from engine.log.records import DEFAULT_PARTITIONS, topic_for
from engine.log.writer import SiteLogWriter
from engine.node.tokens import make_token
from engine.poller import simulation
from projections.errors import DatabaseError
from projections.postgres import PostgresSink
from schemas.configuration import HostDefined
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from tests.support.brokers import test_broker
from tests.support.cli import running, sitelog, stop

pytestmark = pytest.mark.timeout(300)

Offsets = dict[str, dict[int, int]]
PARTITIONS = range(DEFAULT_PARTITIONS)
GAP = re.compile(
    r"site paris failed: site paris partition (\d+): offset (\d+) was deleted from the log "
    r"\(it now starts at (\d+)\)"
)


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with test_broker(BrokerKind.KAFKA) as broker:
        yield broker.bootstrap_servers


def wait(condition: Callable[[], bool], what: str, bound: float = 60) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {bound:g}s"
        time.sleep(0.2)


def healthz(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())
    except OSError:  # not listening yet
        return 0, {}


def replication(url: str, secret: str) -> dict[str, Any]:
    """``GET /api/v1/replication``, by site."""
    asked = urllib.request.Request(
        f"{url}/api/v1/replication", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(asked, timeout=5) as answer:
        return {site["site"]: site for site in orjson.loads(answer.read())["sites"]}


def committed(dsn: str, schema: str) -> Offsets:
    try:
        with PostgresSink.connect(dsn, schema) as sink:
            return sink.load_offsets()
    except DatabaseError as exc:  # the node has not created its tables yet
        if "does not exist" not in str(exc):
            raise
        return {}


def log_ends(bootstrap: str) -> Offsets:
    return {
        site: {
            p: o.end
            for p, o in asyncio.run(
                read_log_offsets(KafkaSettings(bootstrap), topic_for(site), PARTITIONS)
            ).items()
        }
        for site in ("central", "paris")
    }


def reached(dsn: str, schema: str, ends: Offsets) -> Callable[[], bool]:
    def check() -> bool:
        stored = committed(dsn, schema)
        return all(
            stored.get(site, {}).get(p, 0) >= end
            for site, partitions in ends.items()
            for p, end in partitions.items()
        )

    return check


class Site:
    """Writes paris's check results and central's configuration, as pollers and central do."""

    def __init__(self, bootstrap: str) -> None:
        self.kafka = KafkaSettings(bootstrap)
        self.clock = HybridLogicalClock()
        self.rounds = 0

    def results(self, count: int) -> None:
        self.rounds += 1
        traffic = simulation.Traffic(sites=("paris",), hosts_per_site=12)
        self._append("paris", list(simulation.events(count, traffic, seed=self.rounds)))

    def host(self, name: str) -> None:
        payload = HostDefined(host_name=name, site_name="paris")
        event = Event.create(payload, site="central", origin="central-1", clock=self.clock)
        self._append("central", [event])

    def _append(self, site: str, events: list[Event]) -> None:
        async def append() -> None:
            async with SiteLogWriter(site, self.kafka) as writer:
                await writer.append_many(events)

        asyncio.run(append())


def test_a_node_away_past_retention_stops_that_site_alone_and_the_guide_recovers_it(
    bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    schema = f"gap_{uuid.uuid4().hex[:8]}"
    secret, token = make_token("reader", ["read"])
    url = f"http://127.0.0.1:{free_port()}"
    toml = tmp_path / "paris.toml"
    toml.write_text(
        '[node]\nname = "paris-1"\nrole = "remote"\nsite = "paris"\n'
        f'[database]\ndsn = "{pg_dsn}"\nschema = "{schema}"\n'
        f'[sites.central]\nbootstrap_servers = "{bootstrap}"\nconnect_timeout = 3.0\n'
        f'[sites.paris]\nbootstrap_servers = "{bootstrap}"\nconnect_timeout = 3.0\n'
        f'[api]\nlisten = "{url.removeprefix("http://")}"\n'
        f'[api.tokens.reader]\nsha256 = "{token.sha256}"\nscopes = ["read"]\n'
    )
    node_log = tmp_path / "node.log"
    writes = Site(bootstrap)
    writes.host("paris-host-0000")
    writes.results(200)

    @contextmanager
    def node() -> Iterator[subprocess.Popen[bytes]]:
        """``sitelog node`` on the TOML file, its log appended to ``node.log``."""
        command = ("node", "--config", str(toml), "--status-every", "0")
        with (
            node_log.open("ab") as log_file,
            running(*command, stdout=subprocess.DEVNULL, stderr=log_file) as process,
        ):
            yield process

    with node() as first:
        wait(reached(pg_dsn, schema, log_ends(bootstrap)), "the node projected both logs")
        stop(first)
    stored = committed(pg_dsn, schema)["paris"]
    read = {p: stored.get(p, 0) for p in PARTITIONS}

    # Away: paris goes on, and retention deletes what the node had not read yet.
    writes.results(400)
    ends = log_ends(bootstrap)["paris"]
    deleted = {p: read[p] + (ends[p] - read[p]) // 2 for p in PARTITIONS if ends[p] - read[p] >= 2}
    assert deleted, (read, ends)
    asyncio.run(delete_records(bootstrap, deleted))

    with node() as second:
        wait(lambda: healthz(url)[1].get("sites", {}).get("paris") == "failed", "paris failed")
        status, body = healthz(url)
        assert status == 503 and body["status"] == "failing", body
        gaps = [tuple(map(int, m.groups())) for c in body["causes"] if (m := GAP.search(c))]
        assert len(gaps) == 1 and len(body["causes"]) == 1, body
        ((partition, offset, start),) = gaps
        # The first partition with a gap, and exactly the offsets lost there.
        assert (partition, offset, start) == (min(deleted), read[partition], deleted[partition])
        paris = replication(url, secret)["paris"]
        assert paris["state"] == "failed" and GAP.search(f"site paris failed: {paris['error']}")

        # The other site goes on.
        assert body["sites"]["central"] == "running"
        writes.host("paris-host-0100")
        central = {"central": log_ends(bootstrap)["central"]}
        wait(reached(pg_dsn, schema, central), "central went on")

        # The guide, step 1: what is left. Each partition's log start is where deletion left it.
        verify_log = sitelog("log", "verify", "--site", "paris", "--bootstrap", bootstrap)
        assert verify_log.returncode == 0, verify_log.stderr
        table = re.findall(r"^\s+(\d+)\s+(\d+)\s+\d+\s+\d+$", verify_log.stdout, re.M)
        starts = {int(p): int(s) for p, s in table}
        assert starts == {p: deleted.get(p, 0) for p in PARTITIONS}, verify_log.stdout

        # A verify refuses to compare meanwhile, as the guide says.
        refused = sitelog("replay", "--config", str(toml), "--verify")
        assert refused.returncode == 2, refused.stderr
        assert (
            f"paris partition {partition}: the live projection is at offset {offset}, before the "
            f"log start {start}: retention deleted what a rebuild would need" in refused.stderr
        ), refused.stderr

        # Step 2: rebuild from what is left and put it in place, the node running.
        swapped = sitelog("replay", "--config", str(toml), "--swap")
        assert swapped.returncode == 0, swapped.stderr

        # Step 3: at its next write the node takes the rebuild up and follows paris again.
        writes.host("paris-host-0200")
        wait(lambda: healthz(url)[0] == 200, "/healthz answers 200 again")
        assert healthz(url)[1]["sites"] == {"central": "running", "paris": "running"}
        writes.results(50)
        wait(reached(pg_dsn, schema, log_ends(bootstrap)), "the node projected both logs again")

        # Step 4: verify.
        verified = sitelog("replay", "--config", str(toml), "--verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "matches the logs" in verified.stdout
        stop(second)
    said = node_log.read_text()
    assert "was replaced: loading it back" in said, said[-3000:]
    assert f"offset {read[partition]} was deleted" in said


async def delete_records(bootstrap: str, before: dict[int, int]) -> None:
    admin = AIOKafkaAdminClient(**KafkaSettings(bootstrap).client_kwargs())
    await admin.start()
    try:
        await admin.delete_records(
            {TopicPartition(topic_for("paris"), p): RecordsToDelete(o) for p, o in before.items()},
            timeout_ms=10_000,
        )
    finally:
        await admin.close()
