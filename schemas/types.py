"""Value types shared by every event: states, roles, event ids, site names, time units.

Instants and durations are integers in microseconds since the Unix epoch (UTC):
integers compare and hash exactly, which convergence needs, and microseconds are
fine enough for check scheduling without floating point.
"""

from __future__ import annotations

import enum
import os
import re
import time
import uuid

from schemas.errors import InvalidEventError

MICROS_PER_SECOND = 1_000_000


class HostState(enum.IntEnum):
    """Nagios host states; the value is the plugin return code."""

    UP = 0
    DOWN = 1
    UNREACHABLE = 2


class ServiceState(enum.IntEnum):
    """Nagios service states; the value is the plugin return code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class StateType(enum.IntEnum):
    """Nagios state types: SOFT while retrying, HARD once max attempts is reached."""

    SOFT = 0
    HARD = 1


class ServerRole(enum.StrEnum):
    """What kind of server a pool member is (gateways cannot reach the central database)."""

    MANAGEMENT_SERVER = "MANAGEMENT_SERVER"
    GATEWAY = "GATEWAY"


class MembershipMode(enum.StrEnum):
    """How a pool gets its members: every management server (automatic) or by hand."""

    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


class TargetKind(enum.StrEnum):
    """Workflow targets a pool can run (the SCOM seed's three)."""

    NETWORK_DEVICE = "NETWORK_DEVICE"
    UNIX_AGENT = "UNIX_AGENT"
    URL_MONITOR = "URL_MONITOR"


# Site names become Kafka topic names (`sitelog.<site>`), so they keep to the
# characters every Kafka version accepts, and to lower case so that two spellings
# of one site cannot become two logs.
_SITE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def check_site_name(name: str) -> str:
    """Return ``name`` if it is a valid site name, else raise InvalidEventError."""
    if not _SITE_NAME.fullmatch(name):
        raise InvalidEventError(
            f"invalid site name {name!r}: use 1 to 63 of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit"
        )
    return name


def new_event_id(now_ms: int | None = None) -> bytes:
    """A new UUIDv7 (RFC 9562) as 16 bytes: 48-bit Unix milliseconds, then randomness."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = os.urandom(10)
    return (
        ms.to_bytes(6, "big")
        + bytes((0x70 | (rand[0] & 0x0F), rand[1], 0x80 | (rand[2] & 0x3F)))
        + rand[3:]
    )


def event_id_str(event_id: bytes) -> str:
    """The canonical text form of an event id (``0190...-....``)."""
    return str(uuid.UUID(bytes=event_id))


def parse_event_id(text: str) -> bytes:
    """Parse the text form of an event id, or raise InvalidEventError."""
    try:
        return uuid.UUID(text).bytes
    except ValueError:
        raise InvalidEventError(f"invalid event id {text!r}: expected a UUID") from None


def now_us() -> int:
    """The current wall-clock time in microseconds since the Unix epoch."""
    return time.time_ns() // 1_000
