"""What a node can say about the sites it follows and about its database, for people
(the status line), for probes (``/healthz``), for scrapers (``/metrics``) and for the API
(``/api/v1/replication``).

A lag is only a number when it is known: right after a start, before a partition's log
end has been read, the lag is ``None`` (unknown), never 0, so a node that has 50,000
results still to project does not claim to be caught up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["DatabaseState", "DatabaseStatus", "SiteState", "SiteStatus"]


class SiteState(StrEnum):
    """The lifecycle of one followed site log in a projector.

    ``connecting`` -> ``running`` <-> ``disconnected`` (brokers away: retried); ``failed``
    (the log went backwards, was replaced by another, or lost offsets to retention: stopped
    until an operator rebuilds; a node refuses commands for its own site meanwhile);
    ``stopped`` when the projector stops.
    """

    CONNECTING = "connecting"
    RUNNING = "running"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class SiteStatus:
    """One followed site: its state, where the projection is in its log, and how far behind."""

    site: str
    state: SiteState = SiteState.CONNECTING
    error: str | None = None
    #: The site log's partitions, once a reader has read them from the brokers.
    partitions: tuple[int, ...] = ()
    #: Next offset to read per partition, as committed in PostgreSQL.
    committed: dict[int, int] = field(default_factory=dict)
    #: Log end per partition, as of the last fetch or probe.
    log_end: dict[int, int] = field(default_factory=dict)
    dead_letters: int = 0
    events: int = 0
    last_event_time: int | None = None
    #: Wall-clock time (seconds) this node lost the site, as it noticed it (a failed fetch
    #: or log end probe). Kept once the site is reachable again, until the projection has
    #: caught up: the outage is over when nothing of it is left to read, not at reconnection.
    disconnected_since: float | None = None
    #: The log ends were read from the brokers since the site was last lost: until then
    #: they predate the outage, and a lag of 0 against them does not mean caught up.
    ends_fresh: bool = True

    def disconnected(self, error: str) -> None:
        """The site's brokers are unreachable: disconnected since now, unless already."""
        self.state, self.error, self.ends_fresh = SiteState.DISCONNECTED, error, False
        if self.disconnected_since is None:
            self.disconnected_since = time.time()

    def settle(self) -> None:
        """End the outage once running and caught up with log ends read after it (called
        as commits and probes land)."""
        if self.disconnected_since is not None and self.ends_fresh and self.caught_up:
            self.disconnected_since = None

    def partition_lag(self, partition: int) -> int | None:
        """Records of ``partition`` not yet projected; None while its log end is unknown."""
        end = self.log_end.get(partition)
        return None if end is None else max(0, end - self.committed.get(partition, 0))

    @property
    def lag(self) -> int | None:
        """Records not yet projected over every partition; None until every log end is known."""
        if not self.partitions:
            return None
        lags = [self.partition_lag(p) for p in self.partitions]
        return None if None in lags else sum(lag for lag in lags if lag is not None)

    @property
    def caught_up(self) -> bool:
        """Running, and committed up to the last known log end of every partition."""
        return self.state is SiteState.RUNNING and self.lag == 0

    def summary(self) -> str:
        """One line for a person: state, events applied, lag, dead letters, error."""
        lag = "unknown" if self.lag is None else str(self.lag)
        line = f"{self.site}: {self.state}, {self.events} events, lag {lag}"
        if self.dead_letters:
            line += f", {self.dead_letters} dead letters"
        if self.error:
            line += f" ({self.error})"
        return line


class DatabaseState(StrEnum):
    """Whether the projector can write to its PostgreSQL: ``available``, or ``unavailable``
    (a transient fault being waited out), or ``failed`` (an error retrying cannot fix)."""

    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"


@dataclass
class DatabaseStatus:
    """The projector's PostgreSQL, as its last write or reconnection attempt found it."""

    state: DatabaseState = DatabaseState.AVAILABLE
    error: str | None = None
    #: Wall-clock time (seconds) the current fault began, None while available.
    since: float | None = None
    #: Faults waited out since the projector started.
    outages: int = 0

    def lost(self, error: str) -> bool:
        """Record a transient fault; True when it starts an outage (worth one log line)."""
        self.error = error
        if self.state is DatabaseState.UNAVAILABLE:
            return False
        self.state, self.since = DatabaseState.UNAVAILABLE, time.time()
        self.outages += 1
        return True

    def failed(self, error: str) -> None:
        self.state, self.error = DatabaseState.FAILED, error
        self.since = self.since or time.time()

    def back(self) -> float:
        """Record the end of an outage; returns how long it lasted (seconds)."""
        lasted = 0.0 if self.since is None else time.time() - self.since
        self.state, self.error, self.since = DatabaseState.AVAILABLE, None, None
        return lasted
