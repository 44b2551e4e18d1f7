"""``sitelog ingest``: a Nagios-family engine's output as it is, into its site's log.

Reads a file, a FIFO or stdin holding, in any mix:

- external command lines ``[timestamp] COMMAND;args``, as written by OCSP/OCHP
  commands (``PROCESS_HOST_CHECK_RESULT``, ``PROCESS_SERVICE_CHECK_RESULT``) or by
  operators (acknowledgements, downtimes, comments);
- host and service perfdata file lines (``DATATYPE::SERVICEPERFDATA\\tTIMET::...``).

``--follow`` keeps reading a file as it grows, across rotation (``tail -F``), and a
FIFO across its writers. A bad line is reported on stderr with its line number and
reason, counted and skipped; the stream goes on. Accepted events go through the
durable spool; the position reached in a regular file and the downtime and comment
numbers are saved beside the spool after each accepted batch, so a restarted ingest
resumes where the last one stopped. Exit status as for ``sitelog produce``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from engine.commands.producer_options import add_producing_command, finish, producer_from_args
from engine.poller.ingest import IngestState, ingest
from engine.poller.line_source import LineSource
from engine.poller.producer import Producer


def register(commands: Any) -> None:
    parser = add_producing_command(
        commands,
        "ingest",
        help="ingest Nagios external commands and perfdata files into a site log",
        description=__doc__,
        origin="poller",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="keep reading as the file grows and rotates (a FIFO: as writers come and go)",
    )
    parser.add_argument("file", nargs="?", default="-", help="file or FIFO (default: stdin)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    producer = producer_from_args(args, "ingest")
    state = IngestState(producer.spool_settings.directory, args.file)
    return asyncio.run(_ingest(args, producer, state))


async def _ingest(args: argparse.Namespace, producer: Producer, state: IngestState) -> int:
    await producer.start()  # creates the spool directory, where the state lives
    source = LineSource(args.file, follow=args.follow)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # A followed file never ends: a signal ends the reading, then the spool drains.
        loop.add_signal_handler(signum, lambda: task.cancel() if task else None)
    try:
        state.load()
        source.start = state.position
        try:
            await ingest(producer, source, state, origin=args.origin, errors=sys.stderr)
        except asyncio.CancelledError:
            if task is not None:
                task.uncancel()  # stopped by a signal: go on to drain the spool
    finally:
        source.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        status = await finish(producer, args, state.rejected)
    return status
