"""The JSON shape of projection rows, shared by the read endpoints and the live stream.

Rows come as the tables' NamedTuples (``projections.rows``), whether read from
PostgreSQL or taken from a batch of changes. A host is a row whose service is ''
and shows ``"service": null``. Instants are microseconds since the Unix epoch.
Version bytes are bookkeeping of the fold and are not shown.
"""

from __future__ import annotations

from typing import Any

from projections.rows import AcknowledgementRow, CommentRow, DowntimeRow, HistoryRow, StateRow
from schemas.types import HostState, ServiceState, StateType

#: Names to codes, as filters take them (``CRITICAL`` or ``2``); the views show the names.
HOST_STATE_CODES = {s.name: s.value for s in HostState}
SERVICE_STATE_CODES = {s.name: s.value for s in ServiceState}
STATE_TYPE_CODES = {t.name: t.value for t in StateType}
_HOST_STATES = {code: name for name, code in HOST_STATE_CODES.items()}
_SERVICE_STATES = {code: name for name, code in SERVICE_STATE_CODES.items()}
_TYPES = {code: name.lower() for name, code in STATE_TYPE_CODES.items()}


def state_name(service: str, state: int | None) -> str | None:
    if state is None:
        return None
    return (_SERVICE_STATES if service else _HOST_STATES).get(state, str(state))


def state(row: StateRow, acknowledged: bool | None, in_downtime: bool | None) -> dict[str, Any]:
    view = {
        "host": row.host_name,
        "service": row.service_description or None,
        "site": row.target_site,
        "state": row.state,
        "state_name": state_name(row.service_description, row.state),
        "state_type": _TYPES.get(row.state_type, str(row.state_type)),
        "attempt": row.attempt,
        "max_attempts": row.max_attempts,
        "output": row.output,
        "long_output": row.long_output,
        "perfdata": row.perfdata,
        "last_check": row.last_check,
        "last_state_change": row.last_state_change,
        "last_hard_state_change": row.last_hard_state_change,
        "last_hard_state": row.last_hard_state,
        "execution_time": row.execution_time,
        "latency": row.latency,
        "poller": row.poller,
    }
    if acknowledged is not None:
        view["acknowledged"] = acknowledged
    if in_downtime is not None:
        view["in_downtime"] = in_downtime
    return view


def acknowledgement(row: AcknowledgementRow, active: bool | None = None) -> dict[str, Any]:
    view = {
        "host": row.host_name,
        "service": row.service_description or None,
        "site": row.target_site,
        "author": row.author,
        "comment": row.comment,
        "sticky": row.sticky,
        "notify": row.notify,
        "persistent": row.persistent,
        "expire_time": row.expire_time,
        "entry_time": row.entry_time,
        "removed": row.set_version is None
        or (row.removed_version is not None and row.removed_version > row.set_version),
    }
    if active is not None:
        view["active"] = active
    return view


def downtime(row: DowntimeRow) -> dict[str, Any]:
    return {
        "downtime_id": row.downtime_id,
        "host": row.host_name,
        "service": row.service_description or None,
        "site": row.target_site,
        "fixed": row.fixed,
        "start_time": row.start_time,
        "end_time": row.end_time,
        "duration": row.duration,
        "with_services": row.with_services,
        "author": row.author,
        "comment": row.comment,
        "entry_time": row.entry_time,
        "cancelled": row.cancelled_version is not None,
    }


def comment(row: CommentRow) -> dict[str, Any]:
    return {
        "comment_id": row.comment_id,
        "host": row.host_name,
        "service": row.service_description or None,
        "site": row.target_site,
        "author": row.author,
        "text": row.text,
        "persistent": row.persistent,
        "entry_time": row.entry_time,
        "deleted": row.deleted_version is not None,
    }


def history(row: HistoryRow) -> dict[str, Any]:
    service = row.service_description
    return {
        "check_time": row.check_time,
        "state": row.state,
        "state_name": state_name(service, row.state),
        "state_type": _TYPES.get(row.state_type, str(row.state_type)),
        "previous_state": row.previous_state,
        "previous_state_name": state_name(service, row.previous_state),
        "attempt": row.attempt,
        "output": row.output,
    }
