"""``sitelog demo`` run as a user runs it: up within 30 s, each node holding the right sites,
and Ctrl-C (SIGINT) stopping every broker and database it started."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from engine.embedded.process import port_accepts

SITELOG = str(Path(sys.executable).with_name("sitelog"))


def test_demo_comes_up_shows_each_node_its_subset_and_stops_cleanly() -> None:
    started = time.monotonic()
    demo = subprocess.Popen(
        [SITELOG, "demo", "--hosts", "40", "--report-every", "1", "--duration", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in demo.stdout or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []

    def next_line(deadline: float) -> str:
        line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        seen.append(line)
        return line

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
        ports = [int(p) for p in re.findall(r"broker \w+\s+127\.0\.0\.1:(\d+)", "".join(seen))]
        assert len(ports) == 3
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        code = demo.wait(timeout=60)
    print(f"demo ready in {ready_after:.1f}s")
    assert ready_after < 30
    assert code == 0
    assert not any(port_accepts(port) for port in ports)
