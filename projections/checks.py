"""Folding check results: current state, state-change history, perfdata points.

Nagios semantics: ``last_state_change`` moves when the state changes (soft or
hard); ``last_hard_state_change`` when a HARD result brings a new hard state. A
history row is written when the state or the state type changes.

A host's results all travel in one partition of its site log, written by its
poller with a monotonic HLC, so they arrive in version order; a result older than
the register (a second writer with a lagging clock) does not move the state but
its perfdata is still recorded: it was measured (``projections.metrics``).
"""

from __future__ import annotations

from typing import Any

from projections.metrics import record_perfdata
from projections.rows import HistoryRow, StateRow
from projections.state import Changes, ProjectionState
from projections.tables import STATE_HISTORY, STATES
from projections.version import version_key
from schemas.event import Event
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.types import StateType

_HARD = int(StateType.HARD)


def apply_check(
    state: ProjectionState,
    event: Event,
    result: HostCheckResult | ServiceCheckResult,
    changes: Changes,
) -> None:
    service = result.service_description or ""
    key = (result.host_name, service)
    version = version_key(event)
    if result.perfdata:
        record_perfdata(
            state,
            result.perfdata,
            result.host_name,
            service,
            result.check_time,
            event.target_site,
            version,
            changes,
        )
    old = state.get(STATES, key)
    if old is not None and version <= old.version:
        return  # stale or duplicate: the register already holds a later result

    new_state, new_type = int(result.state), int(result.state_type)
    state_changed = old is None or old.state != new_state
    hard_changed = new_type == _HARD and (old is None or old.last_hard_state != new_state)
    if new_state == 0:
        problem_since = None
    elif old is not None and old.state != 0 and old.problem_since_version is not None:
        problem_since = old.problem_since_version
    else:
        problem_since = version

    row = StateRow(
        host_name=result.host_name,
        service_description=service,
        target_site=event.target_site,
        state=new_state,
        state_type=new_type,
        attempt=result.attempt,
        max_attempts=result.max_attempts,
        output=result.output,
        long_output=result.long_output,
        perfdata=result.perfdata,
        last_check=result.check_time,
        execution_time=result.execution_time,
        latency=result.latency,
        poller=result.poller,
        # "old is None or" restates state_changed, so that mypy knows old is a row after else.
        last_state_change=(
            result.check_time if old is None or state_changed else old.last_state_change
        ),
        last_hard_state_change=(
            result.check_time if hard_changed else (old.last_hard_state_change if old else None)
        ),
        last_hard_state=new_state if new_type == _HARD else (old.last_hard_state if old else None),
        version=version,
        change_version=version if old is None or state_changed else old.change_version,
        problem_since_version=problem_since,
    )
    state.put(STATES, key, row, changes)
    if old is None or state_changed or old.state_type != new_type:
        changes.append(
            STATE_HISTORY,
            HistoryRow(
                event_id=event.event_id,
                host_name=result.host_name,
                service_description=service,
                target_site=event.target_site,
                check_time=result.check_time,
                state=new_state,
                state_type=new_type,
                previous_state=old.state if old else None,
                previous_state_type=old.state_type if old else None,
                attempt=result.attempt,
                output=result.output,
            ),
        )


HANDLERS: dict[type, Any] = {
    HostCheckResult: apply_check,
    ServiceCheckResult: apply_check,
}
