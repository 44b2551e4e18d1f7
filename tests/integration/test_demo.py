"""``sitelog demo`` run as a user runs it: up within 30 s, each node holding the right sites,
a person acknowledging a problem in the paris console and seeing it on central's, and
Ctrl-C (SIGINT) stopping every broker and database it started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.async_api import expect

from engine.dev.process import port_accepts
from tests.support.browser import chromium, console_page
from tests.support.services import require_program

SITELOG = str(Path(sys.executable).with_name("sitelog"))


def call(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def check_api(apis: dict[str, str], read: str, operate: str) -> None:
    """The printed URLs and tokens work as printed."""
    status, page = call(apis["paris-1"] + "/api/v1/hosts?limit=1000", read)
    assert status == 200 and len(page["items"]) == 40
    assert {h["site"] for h in page["items"]} == {"paris"}
    assert call(apis["central-1"] + "/api/v1/hosts")[0] == 401
    host = page["items"][0]["host"]
    command = apis["central-1"] + "/api/v1/commands/add-comment?wait=projected"
    assert call(command, read, {"host": host, "text": "hi"})[0] == 403
    status, accepted = call(command, operate, {"host": host, "text": "hi"})
    assert status == 202 and accepted["projected"] is True


async def check_console(consoles: dict[str, str], operate: str) -> None:
    """What the README promises: open the paris console, see its problems, acknowledge one,
    and watch it appear on central's console once central has caught up."""
    async with chromium() as browser:
        async with console_page(browser, consoles["paris-1"], operate, name="demo-paris") as tab:
            page = tab.page
            first = page.locator('#problems tr[data-handled="false"]:not([data-service=""])').first
            host = await first.get_attribute("data-host")
            service = await first.get_attribute("data-service")
            assert host is not None and service is not None
            await first.locator("input.pick").click()
            await page.get_by_role("button", name="Acknowledge…").click()
            await page.locator("#ack-comment").fill("seen in the paris console")
            await page.get_by_label("Sticky: hold until the subject recovers").check()
            await (
                page.locator("#dialog-acknowledge")
                .get_by_role("button", name="Acknowledge")
                .click()
            )
            await expect(page.locator("#dialog-acknowledge")).to_be_hidden()
        central = consoles["central-1"]
        async with console_page(browser, central, operate, name="demo-central") as tab:
            await tab.page.goto(
                f"{central}/hosts/{quote(host, safe='')}/services/{quote(service, safe='')}"
            )
            await expect(
                tab.page.get_by_text("seen in the paris console", exact=True)
            ).to_be_visible(timeout=30_000)


def kill_with_its_services(pid: int) -> None:
    """A demo that did not stop: SIGKILL it and the brokers and PostgreSQL it started
    (each in a session of its own), by their pids, so nothing outlives the test."""
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    os.killpg(pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(child), signal.SIGKILL)


class RunningDemo:
    """``sitelog demo ARGS`` in a session of its own, its output read line by line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [SITELOG, "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        #: Every line read so far.
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout or []:
            self._lines.put(line)

    def next_line(self, deadline: float) -> str:
        """The next line, waiting until ``deadline`` (monotonic) at most."""
        line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
        self.seen.append(line)
        return line

    def interrupt(self) -> int:
        """Ctrl-C, and its exit code; a demo that does not stop is killed with its services."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_with_its_services(self.process.pid)
            raise


def test_demo_comes_up_shows_each_node_its_subset_and_stops_cleanly() -> None:
    started = time.monotonic()
    demo = RunningDemo("--hosts", "40", "--report-every", "1", "--duration", "120")
    next_line = demo.next_line
    try:
        deadline = started + 30
        while "ready in" not in next_line(deadline):
            pass
        ready_after = time.monotonic() - started
        # Reports until every node shows all its hosts: central both sites, remotes their own.
        latest: dict[str, str] = {}
        deadline = time.monotonic() + 60
        full = "40 hosts 120 services"
        while not (
            f"paris: {full}" in latest.get("central-1", "")
            and f"lyon: {full}" in latest.get("central-1", "")
            and f"paris: {full}" in latest.get("paris-1", "")
            and f"lyon: {full}" in latest.get("lyon-1", "")
        ):
            if match := re.match(r"\[[\d:]+\] (\S+)\s+(.*)", next_line(deadline)):
                latest[match[1]] = match[2]
        assert "lyon" not in latest["paris-1"] and "paris" not in latest["lyon-1"]
        output = "".join(demo.seen)
        ports = [int(p) for p in re.findall(r"broker \w+\s+127\.0\.0\.1:(\d+)", output)]
        assert len(ports) == 3
        apis = dict(re.findall(r"api (\S+)\s+(http://\S+)/api/v1/", output))
        assert set(apis) == {"central-1", "paris-1", "lyon-1"}
        ports += [int(url.rsplit(":", 1)[1]) for url in apis.values()]
        read = re.search(r"read token\s+(\S+)", output)
        operate = re.search(r"operate token\s+(\S+)", output)
        assert read and operate
        check_api(apis, read[1], operate[1])
        consoles = dict(re.findall(r"console (\S+)\s+(http://\S+)/  \(sign in", output))
        assert set(consoles) == set(apis)
        asyncio.run(check_console(consoles, operate[1]))
    finally:
        code = demo.interrupt()
    print(f"demo ready in {ready_after:.1f}s")
    assert ready_after < 30
    assert code == 0
    assert not any(port_accepts(port) for port in ports)


def test_demo_on_apache_kafka_projects_every_site_and_stops_cleanly() -> None:
    """``sitelog demo --kafka apache``: the same deployment on three Apache Kafka brokers."""
    require_program("java", "Apache Kafka runs on the JVM")
    require_program("mvn", "Apache Kafka's jars come from Maven Central")
    demo = RunningDemo(
        "--kafka", "apache", "--hosts", "10", "--report-every", "1", "--duration", "120"
    )
    try:
        # The first run fetches the broker's jars (about 40 s from nothing).
        deadline = time.monotonic() + 150
        full = "10 hosts 30 services"
        line = ""
        while not (f"paris: {full}" in line and f"lyon: {full}" in line and "central-1" in line):
            line = demo.next_line(deadline)
        output = "".join(demo.seen)
        assert output.count("Apache Kafka 4.1.2") == 3, output
        ports = [int(p) for p in re.findall(r"broker \w+\s+127\.0\.0\.1:(\d+)", output)]
        assert len(ports) == 3
    finally:
        code = demo.interrupt()
    assert code == 0
    assert not any(port_accepts(port) for port in ports)
