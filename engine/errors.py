"""Errors raised by the running parts of sitelog (site logs, nodes, embedded services, CLI).

Library errors (aiokafka, psycopg, subprocess failures) are translated into these
at the adapter that meets them; nothing above the adapter sees a library exception.
The whole error tree, and what ``retriable`` means, is drawn in ``schemas.errors``.
"""

from __future__ import annotations

from schemas.errors import SitelogError

__all__ = [
    "BrokerRefusedError",
    "BrokerUnavailableError",
    "CentralOnlyError",
    "CommandError",
    "ConfigError",
    "ConflictError",
    "EmbeddedServiceError",
    "IngestStateError",
    "LifecycleError",
    "LogError",
    "LogGapError",
    "LogReplacedError",
    "LogWentBackwardsError",
    "OutsideSubsetError",
    "SiteStoppedError",
    "SitelogError",
    "UnknownSubjectError",
]


class ConfigError(SitelogError):
    """A setting is missing or invalid; the message names the setting."""


class LogError(SitelogError):
    """A site log operation failed (produce, topic creation, offsets).

    Retriable unless said otherwise: brokers come back. One translated from an aiokafka
    error takes that error's own policy (``retriable=``).
    """

    retriable = True

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class BrokerUnavailableError(LogError):
    """The brokers of a site could not be reached within the configured bound."""


class BrokerRefusedError(LogError):
    """The brokers and this client do not agree on security: a TLS certificate that does
    not verify, SASL credentials refused, plaintext against a TLS port. A setting must
    change; retrying the same will not help."""

    retriable = False


class LifecycleError(SitelogError):
    """A component was used out of its lifecycle: started twice, or used before its start
    or after its stop. A bug in the caller, never retried."""


class EmbeddedServiceError(SitelogError):
    """An embedded broker or PostgreSQL server could not be found, started or stopped."""


class LogWentBackwardsError(LogError):
    """A partition's log end is below an offset already consumed: the log was lost or replaced.

    Re-applying from there would silently apply different events under old offsets,
    so the site stops until an operator rebuilds from the logs (``sitelog replay``).
    """

    retriable = False

    def __init__(self, site: str, partition: int, expected: int, log_end: int) -> None:
        super().__init__(
            f"site {site} partition {partition}: log end {log_end} is before offset {expected} "
            "already consumed; the log went backwards (broker data lost?), stopping this site"
        )
        self.site, self.partition, self.expected, self.log_end = site, partition, expected, log_end


class LogReplacedError(LogError):
    """The log holds other records than the ones a node consumed from it: it was replaced
    and refilled (a broker that lost its data, a topic deleted and recreated).

    Its offsets no longer mean what the stored ones meant, so, as for a log that went
    backwards, the site stops until an operator rebuilds from the logs (``sitelog replay``).
    ``partition`` and ``offset`` are None when the topic's id is what differs.
    """

    retriable = False

    def __init__(
        self, site: str, partition: int | None, offset: int | None, expected: str, found: str
    ) -> None:
        if partition is None:
            where = f"site {site}: the topic's id is {found}, not {expected} as read before"
        else:
            where = (
                f"site {site} partition {partition}: offset {offset} holds {found}, "
                f"not event {expected} consumed there"
            )
        super().__init__(
            f"{where}; the log was replaced (broker data lost or topic recreated?), "
            "stopping this site"
        )
        self.site, self.partition, self.offset = site, partition, offset
        self.expected, self.found = expected, found


class LogGapError(LogError):
    """The next offset to read is no longer in the log (deleted by retention)."""

    retriable = False

    def __init__(self, site: str, partition: int, expected: int, log_start: int) -> None:
        super().__init__(
            f"site {site} partition {partition}: offset {expected} was deleted from the log "
            f"(it now starts at {log_start}); events in between are lost for this node"
        )
        self.site, self.partition, self.expected, self.log_start = (
            site,
            partition,
            expected,
            log_start,
        )


class CommandError(SitelogError):
    """An operator command was refused; nothing was appended."""


class UnknownSubjectError(CommandError):
    """The command names a host, service, downtime or comment this node does not know."""


class OutsideSubsetError(CommandError):
    """A remote node was asked to act on a subject owned by another site."""


class CentralOnlyError(CommandError):
    """Configuration is authored on central only."""


class SiteStoppedError(CommandError):
    """The node no longer reads its own site's log (stopped by an error retrying cannot fix),
    so an event appended there could never be projected: the command is refused."""


class ConflictError(CommandError):
    """The command contradicts the current state (a pool that exists, a member already in)."""


class IngestStateError(SitelogError):
    """The state file a restarted ``sitelog ingest`` resumes from cannot be read."""
