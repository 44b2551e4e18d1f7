"""The event envelope (``envelope.avsc``) and the table of every payload type."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import configuration, monitoring, operations, pools
from schemas.hlc import HybridLogicalClock
from schemas.payload import Payload
from schemas.types import check_site_name, event_id_str, new_event_id, now_us

#: Every payload class, in the order of the envelope's Avro union.
PAYLOAD_TYPES: tuple[type[Payload], ...] = (
    *monitoring.PAYLOADS,
    *operations.PAYLOADS,
    *configuration.PAYLOADS,
    *pools.PAYLOADS,
)

#: Payload classes by their short name (``"ServiceCheckResult"``), as used in JSON forms.
PAYLOAD_BY_NAME: dict[str, type[Payload]] = {cls.__name__: cls for cls in PAYLOAD_TYPES}

Version = tuple[int, str, bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One record of a site log: who wrote what, when, about which subject, for which site."""

    event_id: bytes
    site: str
    origin: str
    hlc: int
    event_time: int
    subject: str
    target_site: str
    payload: Payload

    @classmethod
    def create(
        cls,
        payload: Payload,
        *,
        site: str,
        origin: str,
        clock: HybridLogicalClock,
        target_site: str | None = None,
        event_time: int | None = None,
    ) -> Event:
        """Stamp a payload for appending to ``site``'s log.

        ``target_site`` defaults to the site the payload names (a host's definition
        names its site), else to ``site``: a poller's results belong to its own site.
        """
        target = target_site or payload.owner_site() or site
        return cls(
            event_id=new_event_id(),
            site=check_site_name(site),
            origin=origin,
            hlc=clock.now(),
            event_time=now_us() if event_time is None else event_time,
            subject=payload.subject,
            target_site=check_site_name(target),
            payload=payload,
        )

    @property
    def key(self) -> str:
        """The Kafka record key (host name for host and service events)."""
        return self.payload.partition_key

    @property
    def version(self) -> Version:
        """Total order for last-writer-wins: ``(hlc, origin, event_id)``."""
        return (self.hlc, self.origin, self.event_id)

    @property
    def type_name(self) -> str:
        return type(self.payload).__name__

    def __str__(self) -> str:
        return f"{self.type_name} {self.subject!r} ({event_id_str(self.event_id)} @ {self.site})"
