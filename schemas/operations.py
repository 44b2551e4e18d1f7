"""Operator actions (``operations.avsc``): acknowledgements, downtimes, comments, reschedules.

Each targets a host, or one of its services when ``service_description`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.payload import HostScoped, Payload


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgementSet(HostScoped):
    """A problem acknowledged. Non-sticky: ends at any state change; sticky: at recovery."""

    AVRO_NAME = "sitelog.AcknowledgementSet"

    host_name: str
    service_description: str | None = None
    sticky: bool = False
    notify: bool = True
    persistent: bool = False
    author: str
    comment: str = ""
    expire_time: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgementRemoved(HostScoped):
    AVRO_NAME = "sitelog.AcknowledgementRemoved"

    host_name: str
    service_description: str | None = None
    author: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DowntimeScheduled(HostScoped):
    """Fixed: covers [start_time, end_time). Flexible: ``duration`` from the first problem in it."""

    AVRO_NAME = "sitelog.DowntimeScheduled"

    downtime_id: str
    host_name: str
    service_description: str | None = None
    fixed: bool = True
    start_time: int
    end_time: int
    duration: int = 0
    with_services: bool = False
    author: str
    comment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DowntimeCancelled(HostScoped):
    AVRO_NAME = "sitelog.DowntimeCancelled"

    downtime_id: str
    host_name: str
    service_description: str | None = None
    author: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentAdded(HostScoped):
    AVRO_NAME = "sitelog.CommentAdded"

    comment_id: str
    host_name: str
    service_description: str | None = None
    author: str
    text: str
    persistent: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentDeleted(HostScoped):
    AVRO_NAME = "sitelog.CommentDeleted"

    comment_id: str
    host_name: str
    service_description: str | None = None
    author: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRescheduled(HostScoped):
    AVRO_NAME = "sitelog.CheckRescheduled"

    host_name: str
    service_description: str | None = None
    next_check: int
    forced: bool = False
    author: str = ""


#: This module's payload classes, in the order of the envelope's Avro union.
PAYLOADS: tuple[type[Payload], ...] = (
    AcknowledgementSet,
    AcknowledgementRemoved,
    DowntimeScheduled,
    DowntimeCancelled,
    CommentAdded,
    CommentDeleted,
    CheckRescheduled,
)
