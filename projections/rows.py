"""Typed rows, one NamedTuple per table, fields in the table's column order.

A row is a plain tuple (ready for COPY) that reads like a record in the fold's code.
Each table declaration (``projections.tables``) names its row class;
``tests/unit/test_tables.py`` checks each class against its table's columns.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple


class StateRow(NamedTuple):
    host_name: str
    service_description: str
    target_site: str
    state: int
    state_type: int
    attempt: int
    max_attempts: int
    output: str
    long_output: str
    perfdata: str
    last_check: int
    execution_time: float
    latency: float
    poller: str
    last_state_change: int
    last_hard_state_change: int | None
    last_hard_state: int | None
    version: bytes
    #: Version of the result that last changed the state (non-sticky acks end there).
    change_version: bytes
    #: Version of the first problem result since the last recovery (None while OK/UP).
    problem_since_version: bytes | None


class AcknowledgementRow(NamedTuple):
    host_name: str
    service_description: str
    target_site: str
    sticky: bool
    notify: bool
    persistent: bool
    author: str
    comment: str
    expire_time: int | None
    entry_time: int
    set_version: bytes | None
    removed_version: bytes | None


class DowntimeRow(NamedTuple):
    downtime_id: str
    host_name: str
    service_description: str
    target_site: str
    fixed: bool | None
    start_time: int | None
    end_time: int | None
    duration: int | None
    with_services: bool | None
    author: str | None
    comment: str | None
    entry_time: int | None
    version: bytes | None
    #: Version of the latest cancellation; a cancelled downtime stays cancelled.
    cancelled_version: bytes | None


class CommentRow(NamedTuple):
    comment_id: str
    host_name: str
    service_description: str
    target_site: str
    author: str | None
    text: str | None
    persistent: bool | None
    entry_time: int | None
    version: bytes | None
    #: Version of the latest deletion; a deleted comment stays deleted.
    deleted_version: bytes | None


class HistoryRow(NamedTuple):
    event_id: bytes
    host_name: str
    service_description: str
    target_site: str
    check_time: int
    state: int
    state_type: int
    previous_state: int | None
    previous_state_type: int | None
    attempt: int
    output: str


class AuditRow(NamedTuple):
    event_id: bytes
    target_site: str
    site: str
    origin: str
    hlc: int
    event_time: int
    subject: str
    action: str
    author: str
    details: str


class MetricRow(NamedTuple):
    """A perfdata series (host, service, label) and the unit, thresholds and bounds of the
    latest result that changed them."""

    host_name: str
    service_description: str
    label: str
    target_site: str
    unit: str
    warn: str | None
    crit: str | None
    min: float | None
    max: float | None
    #: Version of the result that set these values (last writer wins).
    version: bytes


class ThresholdRow(NamedTuple):
    """A metric's unit, thresholds and bounds from ``since`` (a check time) on."""

    host_name: str
    service_description: str
    label: str
    since: int
    target_site: str
    unit: str
    warn: str | None
    crit: str | None
    min: float | None
    max: float | None


class PointRow(NamedTuple):
    host_name: str
    service_description: str
    label: str
    check_time: int
    value: float | None
    #: What did not parse in this metric's thresholds or bounds (staged, never stored:
    #: it is counted into ``perfdata_problems``), None when nothing.
    problem: str | None = None


class TierRow(NamedTuple):
    """One bucket of a rollup tier (5 minutes, 1 hour, 1 day) of one metric."""

    host_name: str
    service_description: str
    label: str
    bucket_start: int
    samples: int
    #: Exact: the sum of each value's shortest decimal form, so arrival order cannot change it.
    sum: Decimal | None
    min: float | None
    max: float | None
    #: The latest point of the bucket with a value: its check time and value.
    last_time: int | None
    last_value: float | None


# One row class per table (the tables' declarations name them): a tier's rows are TierRows.
class Tier5mRow(TierRow):
    __slots__ = ()


class Tier1hRow(TierRow):
    __slots__ = ()


class Tier1dRow(TierRow):
    __slots__ = ()


class ProblemCountRow(NamedTuple):
    """How many points of a metric had a threshold or bound that did not parse."""

    host_name: str
    service_description: str
    label: str
    target_site: str
    points: int
    last_time: int
    last_problem: str


class SiteRow(NamedTuple):
    site_name: str
    target_site: str
    description: str
    removed: bool
    version: bytes


class PollerRow(NamedTuple):
    poller_name: str
    target_site: str
    site_name: str | None
    address: str | None
    removed: bool
    version: bytes


class HostConfigRow(NamedTuple):
    host_name: str
    target_site: str
    site_name: str | None
    alias: str | None
    address: str | None
    poller_name: str | None
    groups: list[str]
    max_check_attempts: int | None
    check_interval: int | None
    removed: bool
    version: bytes


class ServiceConfigRow(NamedTuple):
    host_name: str
    service_description: str
    target_site: str
    groups: list[str]
    max_check_attempts: int | None
    check_interval: int | None
    removed: bool
    version: bytes


class PoolRow(NamedTuple):
    pool_name: str
    target_site: str
    builtin: bool
    description: str
    defined_version: bytes | None
    membership: str
    #: Version of the switch to manual membership, while that switch is the latest word.
    manual_since: bytes | None
    membership_version: bytes | None
    default_observer: bool
    observer_version: bytes | None


class PoolServerRow(NamedTuple):
    server_name: str
    target_site: str
    role: str | None
    site_name: str
    first_registered: bytes | None
    version: bytes | None
    trust_anchors: list[str]
    trust_version: bytes | None


class PoolMembershipRow(NamedTuple):
    pool_name: str
    server_name: str
    role: str
    target_site: str
    added: bool
    version: bytes


class PoolTargetRow(NamedTuple):
    pool_name: str
    target_name: str
    target_site: str
    kind: str | None
    signing_root: str | None
    assigned_version: bytes | None
    removed: bool
    version: bytes


class PoolLeaseRow(NamedTuple):
    pool_name: str
    server_name: str
    target_site: str
    since: int
    granted_at: int
    expires_at: int
    version: bytes


class OffsetRow(NamedTuple):
    """Where a projection is in one partition of a site log, and which log that is.

    ``last_event_offset`` and ``last_event_id`` name the last event consumed (a dead letter
    has no id: the event before it stays named), ``topic_id`` the topic read (16 bytes,
    where the broker gives one): a node checks them against the log to tell a replaced log
    from its own (``engine.log.identity``). None where not known (rows of older schemas).
    """

    site: str
    partition: int
    next_offset: int
    last_event_time: int | None
    last_event_offset: int | None = None
    last_event_id: bytes | None = None
    topic_id: bytes | None = None


class DeadLetterRow(NamedTuple):
    site: str
    partition: int
    record_offset: int
    reason: str
    message: str
    record_key: bytes | None
    record_value: bytes | None
    #: When this node set it aside (wall clock, microseconds): what retention measures.
    recorded_at: int | None = None
