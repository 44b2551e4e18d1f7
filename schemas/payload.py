"""The base of every event payload, and how a payload names its subject and partition key.

Subjects follow DESIGN.md: ``host``, ``host/service``, ``pool/<name>``, ``site/<name>``,
``poller/<name>``, ``server/<name>``. A subject is a label for filtering and
inspection; projections key their rows on the payload's typed fields, never by
parsing a subject. The partition key is the host name for everything about a host
or its services, so one host's events keep their order within a site log.
"""

from __future__ import annotations

from typing import ClassVar


class Payload:
    """Base class of the typed, immutable payloads (frozen, slotted dataclasses)."""

    __slots__ = ()

    #: The full name of the Avro record this class maps to.
    AVRO_NAME: ClassVar[str]

    @property
    def subject(self) -> str:
        raise NotImplementedError

    @property
    def partition_key(self) -> str:
        """The Kafka record key: events with one key keep their order in a site log."""
        return self.subject

    def owner_site(self) -> str | None:
        """The site that owns the subject when the payload itself says so, else None."""
        return None


class HostScoped(Payload):
    """A payload about a host, or about one of its services when ``service_description`` is set."""

    __slots__ = ()

    host_name: str
    service_description: str | None

    @property
    def subject(self) -> str:
        if self.service_description is None:
            return self.host_name
        return f"{self.host_name}/{self.service_description}"

    @property
    def partition_key(self) -> str:
        return self.host_name


class PoolScoped(Payload):
    """A payload about one pool."""

    __slots__ = ()

    pool_name: str

    @property
    def subject(self) -> str:
        return f"pool/{self.pool_name}"


class ServerScoped(Payload):
    """A payload about one management or gateway server, whatever its pools."""

    __slots__ = ()

    server_name: str

    @property
    def subject(self) -> str:
        return f"server/{self.server_name}"
