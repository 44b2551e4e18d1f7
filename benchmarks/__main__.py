"""``python -m benchmarks [NAME ...] [--broker tansu|kafka]``: run the benchmarks, one JSON
line each on stdout, each naming the broker it was measured on."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from benchmarks import api, console, harness, producer, projection, replay, site_log, storage
from benchmarks.harness import Result
from engine.dev.brokers import BrokerKind

BENCHMARKS: dict[str, Callable[[], list[Result]]] = {
    "site_log": site_log.run,
    "producer": producer.run,
    "projection": projection.run,
    "api": api.run,
    "replay": replay.run,
    "console": console.run,
    "storage": storage.run,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line naming what is wrong, not the usage text."""
        self.exit(2, f"benchmarks: {message}\n")


def _broker_kind(text: str) -> BrokerKind:
    try:
        return BrokerKind.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    description = "Run the benchmarks: one JSON line per figure, beside its same-run baseline."
    parser = _Parser(prog="python -m benchmarks", description=description)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument(
        "--broker",
        type=_broker_kind,
        metavar="{tansu,kafka}",
        help="embedded broker to measure on: tansu (default) or kafka (Apache Kafka)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    chosen = args.names or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if args.broker is not None and os.environ.get(harness.ENV_BOOTSTRAP):
        print(f"--broker and {harness.ENV_BOOTSTRAP} both given: choose one", file=sys.stderr)
        return 2
    harness.use_broker(args.broker or BrokerKind.TANSU)
    for name in chosen:
        for result in BENCHMARKS[name]():
            result.extra["broker"] = harness.broker_name()
            print(result.json_line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
