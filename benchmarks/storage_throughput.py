"""Projection and rebuild throughput with perfdata, before and after the new layout.

"Before" is the code of commit 8837509 (the text-keyed points), checked out in a git
worktree of its own and run with this interpreter, ``PYTHONPATH`` pointing at it; "after"
is this tree. Each run is a child process running that tree's own
``benchmarks.projection.run`` and ``benchmarks.replay.run`` (the same code in both
trees: each produces simulated site logs with perfdata into a fresh embedded broker and
PostgreSQL, then times the projector, or ``sitelog replay``'s rebuild, against a raw
aiokafka read of the same logs), with the same sizes. Runs alternate, before and after,
the order swapped each round; the figures are medians. The worktree is removed at the
end, by its path.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import harness
from benchmarks.harness import note

BEFORE = "8837509"
ROOT = Path(__file__).resolve().parent.parent
# Run in the child, from the tree it measures; one JSON line on stdout.
_CHILD = """
import json, sys
import projections
from benchmarks import harness, projection, replay
from engine.dev.brokers import BrokerKind
harness.use_broker(BrokerKind.parse(sys.argv[4]))
assert projections.__file__.startswith(sys.argv[3]), projections.__file__
p = projection.run(events=int(sys.argv[1]), rounds=1)[0]
r = replay.run(events=int(sys.argv[2]), rounds=1)[0]
print(json.dumps({"projection": p.value, "projection_raw": p.baseline,
                  "rebuild": r.value, "rebuild_raw": r.baseline}))
"""


@dataclass(frozen=True)
class Throughput:
    """Median events/s of each tree, and of the raw reader of its own runs."""

    projection: dict[str, float]  # "before" / "after"
    projection_raw: dict[str, float]
    rebuild: dict[str, float]
    rebuild_raw: dict[str, float]
    runs: dict[str, list[dict[str, float]]]


def _run_tree(tree: Path, projection_events: int, rebuild_events: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # The broker of this run (``--broker``); SITELOG_BENCH_BOOTSTRAP is inherited.
    kind = "tansu" if harness.broker_name() == "external" else harness.broker_name()
    args = [str(projection_events), str(rebuild_events), str(tree), kind]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the benchmark run in {tree} exited with {done.returncode}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(projection_events: int, rebuild_events: int, rounds: int) -> Throughput:
    worktree = Path(tempfile.mkdtemp(prefix="sitelog-before-"))
    worktree.rmdir()  # git worktree add makes it
    git = ["git", "-C", str(ROOT)]
    subprocess.run(
        [*git, "worktree", "add", "--detach", str(worktree), BEFORE],
        check=True,
        capture_output=True,
    )
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    try:
        trees = {"before": worktree, "after": ROOT}
        for round_no in range(rounds):
            order = ("before", "after") if round_no % 2 == 0 else ("after", "before")
            for name in order:
                note(
                    f"storage throughput: round {round_no + 1}/{rounds}, {name} ({BEFORE}"
                    f"{'' if name == 'before' else ' -> this tree'})"
                )
                runs[name].append(_run_tree(trees[name], projection_events, rebuild_events))
                note(f"storage throughput: {name}: {runs[name][-1]}")
    finally:
        subprocess.run(
            [*git, "worktree", "remove", "--force", str(worktree)], check=False, capture_output=True
        )

    def median(key: str) -> dict[str, float]:
        return {name: statistics.median(r[key] for r in rs) for name, rs in runs.items()}

    return Throughput(
        median("projection"),
        median("projection_raw"),
        median("rebuild"),
        median("rebuild_raw"),
        runs,
    )
