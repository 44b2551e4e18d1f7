"""The projection's tables, declared once: names, row types, columns, primary keys, kinds
(how a declaration reads: ``projections.table``).

The pure fold produces rows as tuples in column order; the PostgreSQL sink creates
and writes the tables from these declarations; the digest orders rows by primary
key. Declaring them once keeps the three in step.
"""

from __future__ import annotations

from typing import Any

from projections import rows
from projections.table import Table
from projections.table import columns as _cols
from projections.tables_perfdata import (
    DAY,
    METRIC_SERIES,
    PERFDATA_1D,
    PERFDATA_1H,
    PERFDATA_5M,
    PERFDATA_METRICS,
    PERFDATA_POINTS,
    PERFDATA_PROBLEMS,
    PERFDATA_THRESHOLDS,
    TIERS,
)

__all__ = [
    "ACKNOWLEDGEMENTS",
    "AUDIT_LOG",
    "COMMENTS",
    "CONFIG_HOSTS",
    "CONFIG_POLLERS",
    "CONFIG_SERVICES",
    "CONFIG_SITES",
    "DAY",
    "DEAD_LETTERS",
    "DOWNTIMES",
    "METRIC_SERIES",
    "OFFSETS",
    "PERFDATA_1D",
    "PERFDATA_1H",
    "PERFDATA_5M",
    "PERFDATA_METRICS",
    "PERFDATA_POINTS",
    "PERFDATA_PROBLEMS",
    "PERFDATA_THRESHOLDS",
    "POOLS",
    "POOL_LEASES",
    "POOL_MEMBERSHIPS",
    "POOL_SERVERS",
    "POOL_TARGETS",
    "STATES",
    "STATE_HISTORY",
    "TABLES",
    "TABLES_BY_NAME",
    "TIERS",
]

# Versions are ``projections.version.version_key`` bytes: they compare like the
# (hlc, origin, event_id) tuple, so PostgreSQL and Python order them alike.
# One table for hosts and services, as Centreon's resources: service_description is ''
# for a host (a primary key cannot hold NULL). The same holds for the tables below.
STATES = Table(
    "states",
    rows.StateRow,
    "register",
    _cols("""
host_name text
service_description text
target_site text
state smallint
state_type smallint
attempt integer
max_attempts integer
output text
long_output text
perfdata text
last_check bigint
execution_time double precision
latency double precision
poller text
last_state_change bigint
last_hard_state_change bigint?
last_hard_state smallint?
version bytea
change_version bytea
problem_since_version bytea?
"""),
    ("host_name", "service_description"),
    # For the API's lists by state. last_check is not indexed on purpose: it changes with
    # every result, and an index on it would rule out PostgreSQL's HOT updates.
    indexes=(("target_site",), ("state", "host_name", "service_description")),
)

ACKNOWLEDGEMENTS = Table(
    "acknowledgements",
    rows.AcknowledgementRow,
    "register",
    _cols("""
host_name text
service_description text
target_site text
sticky boolean
notify boolean
persistent boolean
author text
comment text
expire_time bigint?
entry_time bigint
set_version bytea?
removed_version bytea?
"""),
    ("host_name", "service_description"),
)

DOWNTIMES = Table(
    "downtimes",
    rows.DowntimeRow,
    "register",
    _cols("""
downtime_id text
host_name text
service_description text
target_site text
fixed boolean?
start_time bigint?
end_time bigint?
duration bigint?
with_services boolean?
author text?
comment text?
entry_time bigint?
version bytea?
cancelled_version bytea?
"""),
    ("downtime_id",),
    indexes=(("host_name", "service_description"),),
)

COMMENTS = Table(
    "comments",
    rows.CommentRow,
    "register",
    _cols("""
comment_id text
host_name text
service_description text
target_site text
author text?
text text?
persistent boolean?
entry_time bigint?
version bytea?
deleted_version bytea?
"""),
    ("comment_id",),
    indexes=(("host_name", "service_description"),),
)

STATE_HISTORY = Table(
    "state_history",
    rows.HistoryRow,
    "append",
    _cols("""
event_id bytea
host_name text
service_description text
target_site text
check_time bigint
state smallint
state_type smallint
previous_state smallint?
previous_state_type smallint?
attempt integer
output text
"""),
    ("event_id",),
    indexes=(("host_name", "service_description", "check_time"),),
    time_column="check_time",
    partition_span=30 * DAY,
)

AUDIT_LOG = Table(
    "audit_log",
    rows.AuditRow,
    "append",
    _cols("""
event_id bytea
target_site text
site text
origin text
hlc bigint
event_time bigint
subject text
action text
author text
details text
"""),
    ("event_id",),
    indexes=(("subject", "event_time"),),
    time_column="event_time",
    partition_span=30 * DAY,
)

CONFIG_SITES = Table(
    "config_sites",
    rows.SiteRow,
    "register",
    _cols("""
site_name text
target_site text
description text
removed boolean
version bytea
"""),
    ("site_name",),
)

CONFIG_POLLERS = Table(
    "config_pollers",
    rows.PollerRow,
    "register",
    _cols("""
poller_name text
target_site text
site_name text?
address text?
removed boolean
version bytea
"""),
    ("poller_name",),
)

CONFIG_HOSTS = Table(
    "config_hosts",
    rows.HostConfigRow,
    "register",
    _cols("""
host_name text
target_site text
site_name text?
alias text?
address text?
poller_name text?
groups text[]
max_check_attempts integer?
check_interval bigint?
removed boolean
version bytea
"""),
    ("host_name",),
)

CONFIG_SERVICES = Table(
    "config_services",
    rows.ServiceConfigRow,
    "register",
    _cols("""
host_name text
service_description text
target_site text
groups text[]
max_check_attempts integer?
check_interval bigint?
removed boolean
version bytea
"""),
    ("host_name", "service_description"),
)

# Pools (projections.pools): each field group is its own last-writer-wins register, so a
# definition, a membership switch and a default-observer toggle never overwrite each
# other, whatever their arrival order. A version column is NULL until its group is set.
POOLS = Table(
    "pools",
    rows.PoolRow,
    "register",
    _cols("""
pool_name text
target_site text
builtin boolean
description text
defined_version bytea?
membership text
manual_since bytea?
membership_version bytea?
default_observer boolean
observer_version bytea?
"""),
    ("pool_name",),
)

POOL_SERVERS = Table(
    "pool_servers",
    rows.PoolServerRow,
    "register",
    _cols("""
server_name text
target_site text
role text?
site_name text
first_registered bytea?
version bytea?
trust_anchors text[]
trust_version bytea?
"""),
    ("server_name",),
)

# One register per (pool, server, role): role is 'member' or 'observer'.
POOL_MEMBERSHIPS = Table(
    "pool_memberships",
    rows.PoolMembershipRow,
    "register",
    _cols("""
pool_name text
server_name text
role text
target_site text
added boolean
version bytea
"""),
    ("pool_name", "server_name", "role"),
)

# Keyed by pool too: a removal from one pool cannot cancel a later assignment to another.
# A target runs in the pool of its latest assignment (assigned_version), unless removed.
POOL_TARGETS = Table(
    "pool_targets",
    rows.PoolTargetRow,
    "register",
    _cols("""
pool_name text
target_name text
target_site text
kind text?
signing_root text?
assigned_version bytea?
removed boolean
version bytea
"""),
    ("pool_name", "target_name"),
)

# A member's current lease: valid from ``since`` (start of its unbroken run of leases)
# until ``expires_at``, in event time (microseconds).
POOL_LEASES = Table(
    "pool_leases",
    rows.PoolLeaseRow,
    "register",
    _cols("""
pool_name text
server_name text
target_site text
since bigint
granted_at bigint
expires_at bigint
version bytea
"""),
    ("pool_name", "server_name"),
)

OFFSETS = Table(
    "offsets",
    rows.OffsetRow,
    "register",
    _cols("""
site text
partition integer
next_offset bigint
last_event_time bigint?
last_event_offset bigint?
last_event_id bytea?
topic_id bytea?
"""),
    ("site", "partition"),
    digested=False,
)

DEAD_LETTERS = Table(
    "dead_letters",
    rows.DeadLetterRow,
    "append",
    _cols("""
site text
partition integer
record_offset bigint
reason text
message text
record_key bytea?
record_value bytea?
recorded_at bigint?
"""),
    ("site", "partition", "record_offset"),
    digested=False,
    time_column="recorded_at",
)

TABLES: tuple[Table[Any], ...] = (
    STATES,
    ACKNOWLEDGEMENTS,
    DOWNTIMES,
    COMMENTS,
    STATE_HISTORY,
    AUDIT_LOG,
    PERFDATA_METRICS,
    PERFDATA_THRESHOLDS,
    PERFDATA_POINTS,
    PERFDATA_5M,
    PERFDATA_1H,
    PERFDATA_1D,
    PERFDATA_PROBLEMS,
    CONFIG_SITES,
    CONFIG_POLLERS,
    CONFIG_HOSTS,
    CONFIG_SERVICES,
    POOLS,
    POOL_SERVERS,
    POOL_MEMBERSHIPS,
    POOL_TARGETS,
    POOL_LEASES,
    OFFSETS,
    DEAD_LETTERS,
)
TABLES_BY_NAME: dict[str, Table[Any]] = {t.name: t for t in TABLES}
