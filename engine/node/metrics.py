"""A node's own Prometheus instruments: the projector's batches, folds and writes, and the
write path's appends. The API serves them at ``/metrics`` beside its HTTP figures and the
per-site replication gauges read at scrape time (``engine.api.metrics``).

Every instrument lives in the node's own registry (not prometheus_client's global one),
so two nodes in one process (tests, ``sitelog demo``) never mix their figures.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["NodeMetrics"]

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class NodeMetrics:
    """The instruments the projector and the write path update as they go."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.batch_events = Histogram(
            "sitelog_projector_batch_events",
            "Events (and dead letters) per batch written to PostgreSQL",
            buckets=(1, 10, 100, 500, 1000, 5000, 10000, 20000, 50000),
            registry=r,
        )
        self.fold_seconds = Histogram(
            "sitelog_projector_fold_seconds",
            "Time folding one batch into the in-memory registers",
            buckets=_SECONDS,
            registry=r,
        )
        self.write_seconds = Histogram(
            "sitelog_projector_write_seconds",
            "Time writing one batch and its offsets to PostgreSQL, in one transaction",
            buckets=_SECONDS,
            registry=r,
        )
        self.database_faults = Counter(
            "sitelog_projector_database_faults",
            "Batch writes or reloads that met a PostgreSQL fault, by kind",
            ["kind"],
            registry=r,
        )
        self.points_dropped = Counter(
            "sitelog_points_dropped",
            "Perfdata points not kept: older than the raw points' retention horizon",
            registry=r,
        )
        self.appends = Counter(
            "sitelog_write_path_appends",
            "Events the write path appended to this node's site log, by command",
            ["command"],
            registry=r,
        )
        self.append_errors = Counter(
            "sitelog_write_path_errors",
            "Commands the write path refused or could not append, by command and error",
            ["command", "error"],
            registry=r,
        )
