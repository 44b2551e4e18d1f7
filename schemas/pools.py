"""Resource pool events (``pools.avsc``): servers, pools, membership, leases, targets, trust."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.payload import Payload, PoolScoped, ServerScoped
from schemas.types import MembershipMode, ServerRole, TargetKind


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerRegistered(ServerScoped):
    AVRO_NAME = "sitelog.ServerRegistered"

    server_name: str
    role: ServerRole
    site_name: str = ""

    def owner_site(self) -> str | None:
        return self.site_name or None


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolDefined(PoolScoped):
    AVRO_NAME = "sitelog.PoolDefined"

    pool_name: str
    membership: MembershipMode = MembershipMode.MANUAL
    default_observer: bool = False
    builtin: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolMembershipModeChanged(PoolScoped):
    AVRO_NAME = "sitelog.PoolMembershipModeChanged"

    pool_name: str
    membership: MembershipMode


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolMemberAdded(PoolScoped):
    AVRO_NAME = "sitelog.PoolMemberAdded"

    pool_name: str
    server_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolMemberRemoved(PoolScoped):
    AVRO_NAME = "sitelog.PoolMemberRemoved"

    pool_name: str
    server_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolObserverAdded(PoolScoped):
    AVRO_NAME = "sitelog.PoolObserverAdded"

    pool_name: str
    server_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolObserverRemoved(PoolScoped):
    AVRO_NAME = "sitelog.PoolObserverRemoved"

    pool_name: str
    server_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DefaultObserverEnabled(PoolScoped):
    AVRO_NAME = "sitelog.DefaultObserverEnabled"

    pool_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DefaultObserverDisabled(PoolScoped):
    AVRO_NAME = "sitelog.DefaultObserverDisabled"

    pool_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease(PoolScoped):
    """A heartbeat: valid for ``lease_request_period + 2 * network_latency`` after event_time."""

    AVRO_NAME = "sitelog.Lease"

    pool_name: str
    server_name: str
    lease_request_period: int
    network_latency: int

    @property
    def duration(self) -> int:
        """How long the lease lasts, in microseconds of event time."""
        return self.lease_request_period + 2 * self.network_latency


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStopped(PoolScoped):
    AVRO_NAME = "sitelog.MemberStopped"

    pool_name: str
    server_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolTargetAssigned(PoolScoped):
    AVRO_NAME = "sitelog.PoolTargetAssigned"

    pool_name: str
    target_name: str
    kind: TargetKind
    signing_root: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolTargetRemoved(PoolScoped):
    AVRO_NAME = "sitelog.PoolTargetRemoved"

    pool_name: str
    target_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustAnchorsReported(ServerScoped):
    AVRO_NAME = "sitelog.TrustAnchorsReported"

    server_name: str
    fingerprints: tuple[str, ...] = ()


#: This module's payload classes, in the order of the envelope's Avro union.
PAYLOADS: tuple[type[Payload], ...] = (
    ServerRegistered,
    PoolDefined,
    PoolMembershipModeChanged,
    PoolMemberAdded,
    PoolMemberRemoved,
    PoolObserverAdded,
    PoolObserverRemoved,
    DefaultObserverEnabled,
    DefaultObserverDisabled,
    Lease,
    MemberStopped,
    PoolTargetAssigned,
    PoolTargetRemoved,
    TrustAnchorsReported,
)
