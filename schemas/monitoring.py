"""Check results produced by pollers (``monitoring.avsc``)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.payload import HostScoped, Payload
from schemas.types import HostState, ServiceState, StateType


@dataclass(frozen=True, slots=True, kw_only=True)
class HostCheckResult(HostScoped):
    """One host check as the poller ran it."""

    AVRO_NAME = "sitelog.HostCheckResult"

    host_name: str
    state: HostState
    state_type: StateType
    attempt: int
    max_attempts: int
    output: str
    long_output: str = ""
    perfdata: str = ""
    check_time: int
    execution_time: float = 0.0
    latency: float = 0.0
    poller: str = ""

    @property
    def service_description(self) -> None:  # type: ignore[override]
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceCheckResult(HostScoped):
    """One service check as the poller ran it."""

    AVRO_NAME = "sitelog.ServiceCheckResult"

    host_name: str
    service_description: str
    state: ServiceState
    state_type: StateType
    attempt: int
    max_attempts: int
    output: str
    long_output: str = ""
    perfdata: str = ""
    check_time: int
    execution_time: float = 0.0
    latency: float = 0.0
    poller: str = ""


#: This module's payload classes, in the order of the envelope's Avro union.
PAYLOADS: tuple[type[Payload], ...] = (
    HostCheckResult,
    ServiceCheckResult,
)
