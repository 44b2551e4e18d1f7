"""Administration of a node's projection: rebuilding, verifying and replacing it from the
logs (``replay``), and listing and re-processing its dead letters (``dead_letters``)."""

from engine.recovery.dead_letters import Retried, list_dead_letters, retry
from engine.recovery.replay import RebuildStats, compare, live_snapshot, rebuild, swap

__all__ = [
    "RebuildStats",
    "Retried",
    "compare",
    "list_dead_letters",
    "live_snapshot",
    "rebuild",
    "retry",
    "swap",
]
