"""Configuration authored on central (``configuration.avsc``): sites, pollers, hosts, services.

Remote nodes receive it by catching up on ``sitelog.central``; ``owner_site`` gives
the ``target_site`` that lets a remote node keep only its own subset.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.payload import HostScoped, Payload
from schemas.types import MICROS_PER_SECOND

DEFAULT_CHECK_INTERVAL = 300 * MICROS_PER_SECOND


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteDefined(Payload):
    AVRO_NAME = "sitelog.SiteDefined"

    site_name: str
    description: str = ""

    @property
    def subject(self) -> str:
        return f"site/{self.site_name}"

    def owner_site(self) -> str:
        return self.site_name


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRemoved(Payload):
    AVRO_NAME = "sitelog.SiteRemoved"

    site_name: str

    @property
    def subject(self) -> str:
        return f"site/{self.site_name}"

    def owner_site(self) -> str:
        return self.site_name


@dataclass(frozen=True, slots=True, kw_only=True)
class PollerDefined(Payload):
    AVRO_NAME = "sitelog.PollerDefined"

    poller_name: str
    site_name: str
    address: str = ""

    @property
    def subject(self) -> str:
        return f"poller/{self.poller_name}"

    def owner_site(self) -> str:
        return self.site_name


@dataclass(frozen=True, slots=True, kw_only=True)
class PollerRemoved(Payload):
    AVRO_NAME = "sitelog.PollerRemoved"

    poller_name: str

    @property
    def subject(self) -> str:
        return f"poller/{self.poller_name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostDefined(HostScoped):
    AVRO_NAME = "sitelog.HostDefined"

    host_name: str
    site_name: str
    alias: str = ""
    address: str = ""
    poller_name: str = ""
    groups: tuple[str, ...] = ()
    max_check_attempts: int = 3
    check_interval: int = DEFAULT_CHECK_INTERVAL

    @property
    def service_description(self) -> None:  # type: ignore[override]
        return None

    def owner_site(self) -> str:
        return self.site_name


@dataclass(frozen=True, slots=True, kw_only=True)
class HostRemoved(HostScoped):
    AVRO_NAME = "sitelog.HostRemoved"

    host_name: str

    @property
    def service_description(self) -> None:  # type: ignore[override]
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceDefined(HostScoped):
    AVRO_NAME = "sitelog.ServiceDefined"

    host_name: str
    service_description: str
    groups: tuple[str, ...] = ()
    max_check_attempts: int = 3
    check_interval: int = DEFAULT_CHECK_INTERVAL


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRemoved(HostScoped):
    AVRO_NAME = "sitelog.ServiceRemoved"

    host_name: str
    service_description: str


#: This module's payload classes, in the order of the envelope's Avro union.
PAYLOADS: tuple[type[Payload], ...] = (
    SiteDefined,
    SiteRemoved,
    PollerDefined,
    PollerRemoved,
    HostDefined,
    HostRemoved,
    ServiceDefined,
    ServiceRemoved,
)
