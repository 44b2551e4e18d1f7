"""``python -m benchmarks [NAME ...]``: run the benchmarks, one JSON line each on stdout."""

from __future__ import annotations

import sys
from collections.abc import Callable

from benchmarks import api, console, producer, projection, replay, site_log
from benchmarks.harness import Result

BENCHMARKS: dict[str, Callable[[], list[Result]]] = {
    "site_log": site_log.run,
    "producer": producer.run,
    "projection": projection.run,
    "api": api.run,
    "replay": replay.run,
    "console": console.run,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in chosen:
        for result in BENCHMARKS[name]():
            print(result.json_line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
