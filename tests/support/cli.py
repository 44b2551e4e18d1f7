"""Running the ``sitelog`` console script from tests, and reading back what it wrote.

``sitelog()`` runs a command to its end; ``running()`` starts a long-lived one (ingest
--follow, produce on a pipe) in a process group of its own, which it kills when the
test is done, also when it failed. ``read_log()`` reads a site log until it holds a
number of events, within a bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader
from schemas.event import Event

SITELOG = str(Path(sys.executable).with_name("sitelog"))


def sitelog(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SITELOG, *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def running(*args: str, **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """``sitelog ARGS`` as a child in its own process group, killed by its pid on the way out."""
    process = subprocess.Popen([SITELOG, *args], start_new_session=True, **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def stop(process: subprocess.Popen[Any], timeout: float = 30) -> str:
    """SIGTERM a ``running`` process (as an init system would) and return its stderr
    ("" when it was not piped)."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout)
    return "" if process.stderr is None else str(process.stderr.read())


async def read_log_async(
    settings: KafkaSettings, site: str, count: int, bound: float = 30
) -> list[Event]:
    """The events of ``site``'s log from its start, once it holds ``count`` (or ``bound`` s)."""
    got: list[Event] = []
    async with SiteLogReader(site, settings) as reader:
        await reader.assign()
        deadline = time.monotonic() + bound
        while len(got) < count and time.monotonic() < deadline:
            for batch in await reader.read(timeout=0.3):
                got.extend(event for _, event in batch.events)
    return got


def read_log(settings: KafkaSettings, site: str, count: int, bound: float = 30) -> list[Event]:
    return asyncio.run(read_log_async(settings, site, count, bound))
