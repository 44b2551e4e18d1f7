"""Time-dependent answers, evaluated as of an instant ``at`` (microseconds).

Nothing here reads the clock: two nodes that hold the same rows answer the same for
the same ``at``. The PostgreSQL sink has SQL twins of these rules, checked against
them by the tests.

- Acknowledged: the latest acknowledgement is later than its latest removal, has
  not expired, and the subject is in a problem state that began before it (sticky)
  or has not changed since it (non-sticky). So a non-sticky acknowledgement ends at
  any state change and a sticky one at recovery, whatever order the acknowledgement
  and the results were read in.
- In downtime: a fixed downtime covers ``[start_time, end_time)``; a flexible one
  lasts ``duration`` from the first instant of ``[start_time, end_time]`` at which
  the subject was in a problem state (per the state history). A host downtime
  "with services" also covers every service of the host. Cancelled ones cover nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from projections.rows import AcknowledgementRow, DowntimeRow, HistoryRow, StateRow


def acknowledged(ack: AcknowledgementRow | None, state: StateRow | None, at: int) -> bool:
    if ack is None or state is None or ack.set_version is None:
        return False
    if ack.removed_version is not None and ack.removed_version > ack.set_version:
        return False
    if ack.expire_time is not None and ack.expire_time <= at:
        return False
    if state.state == 0 or state.problem_since_version is None:
        return False
    if ack.sticky:
        return state.problem_since_version < ack.set_version
    return state.change_version < ack.set_version


def flexible_start(downtime: DowntimeRow, history: Sequence[HistoryRow]) -> int | None:
    """When a flexible downtime began: the first problem instant in its window, if any.

    ``history`` holds the subject's state changes sorted by (check_time, event_id).
    """
    assert downtime.start_time is not None and downtime.end_time is not None
    before = [h for h in history if h.check_time <= downtime.start_time]
    if before and before[-1].state != 0:
        return downtime.start_time
    for row in history:
        if downtime.start_time < row.check_time <= downtime.end_time and row.state != 0:
            return row.check_time
    return None


def downtime_active(downtime: DowntimeRow, history: Sequence[HistoryRow], at: int) -> bool:
    if downtime.cancelled_version is not None or downtime.version is None:
        return False
    assert downtime.start_time is not None and downtime.end_time is not None
    if downtime.fixed:
        return downtime.start_time <= at < downtime.end_time
    began = flexible_start(downtime, history)
    return began is not None and began <= at < began + (downtime.duration or 0)


def in_downtime(
    host_name: str,
    service_description: str,
    downtimes: Iterable[DowntimeRow],
    history: Iterable[HistoryRow],
    at: int,
) -> bool:
    """Whether a host (``service_description`` '') or service is in downtime as of ``at``."""
    by_subject: dict[tuple[str, str], list[HistoryRow]] = {}
    for row in sorted(history, key=lambda h: (h.check_time, h.event_id)):
        by_subject.setdefault((row.host_name, row.service_description), []).append(row)
    for downtime in downtimes:
        if downtime.host_name != host_name:
            continue
        covers = downtime.service_description == service_description or (
            service_description != ""
            and downtime.service_description == ""
            and bool(downtime.with_services)
        )
        subject = (downtime.host_name, downtime.service_description)
        if covers and downtime_active(downtime, by_subject.get(subject, []), at):
            return True
    return False
