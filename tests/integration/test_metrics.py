"""``/metrics`` as a Prometheus user expects it: the families a node and a producer expose,
well-formed (prometheus_client's own parser, and ``promtool check metrics`` where installed).
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.dev.process import free_port
from tests.support.api_deployment import Deployment
from tests.support.cli import running
from tests.support.services import require_program

NODE_FAMILIES = {
    # the process
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "python_gc_collections",
    "python_info",
    # HTTP, by route and status, with a latency histogram
    "sitelog_api_requests",
    "sitelog_api_request_seconds",
    # replication per site
    "sitelog_site_lag_events",
    "sitelog_site_connected",
    "sitelog_site_failed",
    "sitelog_events_applied",
    "sitelog_dead_letters",
    # the projector and its database
    "sitelog_projector_batch_events",
    "sitelog_projector_fold_seconds",
    "sitelog_projector_write_seconds",
    "sitelog_projector_queue_batches",
    "sitelog_projector_database_faults",
    "sitelog_projector_failed",
    "sitelog_database_up",
    "sitelog_database_outages",
    # the write path
    "sitelog_write_path_appends",
    "sitelog_write_path_errors",
}


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Every family's samples, parsed by prometheus_client (a malformed line raises)."""
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def promtool_accepts(text: str) -> None:
    promtool = require_program("promtool", "Debian's prometheus; make test installs it")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def scrape(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await response.text()


@pytest.mark.asyncio(loop_scope="session")
async def test_node_metrics(deployment: Deployment, http_session: aiohttp.ClientSession) -> None:
    host = next(iter(deployment.latest))[0]
    status, _ = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/add-comment",
        {"host": host, "text": "metrics"},
        token="operator",
        wait="projected",
    )
    assert status == 202
    status, _ = await deployment.post(
        http_session,
        "central",
        "/api/v1/commands/add-comment",
        {"host": "no-such-host", "text": "metrics"},
        token="operator",
    )
    assert status == 404
    await deployment.get(http_session, "central", "/api/v1/services", limit="5")
    text = await scrape(http_session, deployment.urls["central"])
    found = families(text)
    assert set(found) >= NODE_FAMILIES, sorted(NODE_FAMILIES - set(found))

    requests = found["sitelog_api_requests"]
    assert any(
        labels.get("route") == "/api/v1/services" and labels.get("status") == "200"
        for _, labels, _ in requests
    )
    buckets = [s for s in found["sitelog_api_request_seconds"] if s[0].endswith("_bucket")]
    assert buckets, "the latency is a histogram"
    appended = {s[1]["command"]: s[2] for s in found["sitelog_write_path_appends"] if s[2]}
    assert appended.get("add-comment", 0) >= 1
    refused = {s[1]["error"] for s in found["sitelog_write_path_errors"] if s[2]}
    assert "UnknownSubjectError" in refused
    assert [s[2] for s in found["sitelog_database_up"]] == [1.0]
    batches = [s for s in found["sitelog_projector_batch_events"] if s[0].endswith("_count")]
    assert batches and batches[0][2] > 0, "the projector wrote batches"
    sites = {s[1]["site"] for s in found["sitelog_site_connected"]}
    assert sites == set(deployment.central.status)
    promtool_accepts(text)


def test_producer_metrics(tmp_path: Path, bootstrap: str, site: str) -> None:
    listen = f"127.0.0.1:{free_port()}"
    lines = tmp_path / "commands.log"
    lines.write_text(
        "".join(
            f"[1700000000] PROCESS_SERVICE_CHECK_RESULT;web{i};HTTP;0;ok|time=0.{i}s\n"
            for i in range(20)
        )
    )
    spool = tmp_path / "spool"
    args = ["ingest", "--site", site, "--bootstrap", bootstrap, "--spool", str(spool)]
    with running(
        *args, "--metrics-listen", listen, "--follow", str(lines), stderr=subprocess.DEVNULL
    ):
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{listen}/metrics", timeout=5) as answer:
                    text = answer.read().decode()
                found = families(text)
                if [s[2] for s in found["sitelog_producer_acknowledged"]] == [20.0]:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the producer's figures did not show 20 events"
            time.sleep(0.2)
    assert [s[2] for s in found["sitelog_producer_accepted"]] == [20.0]
    assert [s[2] for s in found["sitelog_producer_pending"]] == [0.0]
    assert {s[1]["site"] for s in found["sitelog_producer_connected"]} == {site}
    promtool_accepts(text)
