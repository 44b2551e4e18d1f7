"""Folding operator actions: acknowledgements, downtimes, comments, and the audit trail.

- An acknowledgement is a last-writer-wins register per host or service that also
  keeps the version of its latest removal; whether it is in force is decided as of
  an instant from the state register (see ``projections.asof``), so an
  acknowledgement and a state change from two sites give one answer in any order.
- Downtimes and comments are add/remove sets by id: a cancellation or deletion wins
  whatever the order it arrives in (a tombstone row keeps it).
- Every operator action and configuration change is appended to the audit trail,
  keyed by event id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from projections.rows import AcknowledgementRow, AuditRow, CommentRow, DowntimeRow
from projections.state import Changes, ProjectionState
from projections.table import Table
from projections.tables import ACKNOWLEDGEMENTS, AUDIT_LOG, COMMENTS, DOWNTIMES
from projections.version import version_key
from schemas.event import Event
from schemas.json_form import payload_to_json
from schemas.operations import (
    AcknowledgementRemoved,
    AcknowledgementSet,
    CheckRescheduled,
    CommentAdded,
    CommentDeleted,
    DowntimeCancelled,
    DowntimeScheduled,
)


def audit(event: Event, changes: Changes) -> None:
    """Append the event to the operator audit trail."""
    payload = event.payload
    changes.append(
        AUDIT_LOG,
        AuditRow(
            event_id=event.event_id,
            target_site=event.target_site,
            site=event.site,
            origin=event.origin,
            hlc=event.hlc,
            event_time=event.event_time,
            subject=event.subject,
            action=event.type_name,
            author=getattr(payload, "author", ""),
            details=orjson.dumps(payload_to_json(payload), option=orjson.OPT_SORT_KEYS).decode(),
        ),
    )


def _ack_set(
    state: ProjectionState, event: Event, ack: AcknowledgementSet, changes: Changes
) -> None:
    audit(event, changes)
    key = (ack.host_name, ack.service_description or "")
    version = version_key(event)
    old = state.get(ACKNOWLEDGEMENTS, key)
    if old is not None and old.set_version is not None and version <= old.set_version:
        return
    row = AcknowledgementRow(
        host_name=ack.host_name,
        service_description=key[1],
        target_site=event.target_site,
        sticky=ack.sticky,
        notify=ack.notify,
        persistent=ack.persistent,
        author=ack.author,
        comment=ack.comment,
        expire_time=ack.expire_time,
        entry_time=event.event_time,
        set_version=version,
        removed_version=old.removed_version if old else None,
    )
    state.put(ACKNOWLEDGEMENTS, key, row, changes)


def _ack_removed(
    state: ProjectionState, event: Event, removal: AcknowledgementRemoved, changes: Changes
) -> None:
    audit(event, changes)
    key = (removal.host_name, removal.service_description or "")
    version = version_key(event)
    old = state.get(ACKNOWLEDGEMENTS, key)
    if old is not None and old.removed_version is not None and version <= old.removed_version:
        return
    if old is None or old.set_version is None:
        # Removed before any acknowledgement arrived: remember the removal (it still beats
        # older acknowledgements), described by the latest one whatever the arrival order.
        row = AcknowledgementRow(
            host_name=removal.host_name,
            service_description=key[1],
            target_site=event.target_site,
            sticky=False,
            notify=False,
            persistent=False,
            author="",
            comment="",
            expire_time=None,
            entry_time=0,
            set_version=None,
            removed_version=version,
        )
    else:
        row = old._replace(removed_version=version)
    state.put(ACKNOWLEDGEMENTS, key, row, changes)


#: The rows of an add/remove set: each has a version and a removal version.
_SetRow = TypeVar("_SetRow", DowntimeRow, CommentRow)


def _add(
    state: ProjectionState,
    changes: Changes,
    table: Table[_SetRow],
    key: tuple[str],
    version: bytes,
    removal_field: str,
    build: Callable[[bytes | None], _SetRow],
) -> None:
    """Add to an add/remove set: the latest addition describes the row; a removal stays."""
    old = state.get(table, key)
    if old is not None and old.version is not None and version <= old.version:
        return
    state.put(table, key, build(getattr(old, removal_field) if old else None), changes)


def _remove(
    state: ProjectionState,
    changes: Changes,
    table: Table[_SetRow],
    key: tuple[str],
    version: bytes,
    removal_field: str,
    tombstone: Callable[[], _SetRow],
) -> None:
    """Remove from an add/remove set: the removal wins whatever the order of arrival.

    Removed before (or without) its addition, the row is a tombstone described by the
    latest removal, so that any arrival order leaves the same row.
    """
    old = state.get(table, key)
    removed: bytes | None = getattr(old, removal_field) if old is not None else None
    if removed is not None and version <= removed:
        return
    if old is None or old.version is None:
        row = tombstone()
    else:
        removal: dict[str, Any] = {removal_field: version}
        row = old._replace(**removal)
    state.put(table, key, row, changes)


# What a downtime or comment row holds before its schedule or addition arrives.
_UNSCHEDULED: dict[str, Any] = dict.fromkeys(
    (
        "fixed",
        "start_time",
        "end_time",
        "duration",
        "with_services",
        "author",
        "comment",
        "entry_time",
        "version",
    )
)
_UNWRITTEN: dict[str, Any] = dict.fromkeys(
    ("author", "text", "persistent", "entry_time", "version")
)


def _downtime_scheduled(
    state: ProjectionState, event: Event, downtime: DowntimeScheduled, changes: Changes
) -> None:
    audit(event, changes)
    version = version_key(event)
    _add(
        state,
        changes,
        DOWNTIMES,
        (downtime.downtime_id,),
        version,
        "cancelled_version",
        lambda cancelled: DowntimeRow(
            downtime_id=downtime.downtime_id,
            host_name=downtime.host_name,
            service_description=downtime.service_description or "",
            target_site=event.target_site,
            fixed=downtime.fixed,
            start_time=downtime.start_time,
            end_time=downtime.end_time,
            duration=downtime.duration,
            with_services=downtime.with_services,
            author=downtime.author,
            comment=downtime.comment,
            entry_time=event.event_time,
            version=version,
            cancelled_version=cancelled,
        ),
    )


def _downtime_cancelled(
    state: ProjectionState, event: Event, cancel: DowntimeCancelled, changes: Changes
) -> None:
    audit(event, changes)
    version = version_key(event)
    _remove(
        state,
        changes,
        DOWNTIMES,
        (cancel.downtime_id,),
        version,
        "cancelled_version",
        lambda: DowntimeRow(
            downtime_id=cancel.downtime_id,
            host_name=cancel.host_name,
            service_description=cancel.service_description or "",
            target_site=event.target_site,
            **_UNSCHEDULED,
            cancelled_version=version,
        ),
    )


def _comment_added(
    state: ProjectionState, event: Event, comment: CommentAdded, changes: Changes
) -> None:
    audit(event, changes)
    version = version_key(event)
    _add(
        state,
        changes,
        COMMENTS,
        (comment.comment_id,),
        version,
        "deleted_version",
        lambda deleted: CommentRow(
            comment_id=comment.comment_id,
            host_name=comment.host_name,
            service_description=comment.service_description or "",
            target_site=event.target_site,
            author=comment.author,
            text=comment.text,
            persistent=comment.persistent,
            entry_time=event.event_time,
            version=version,
            deleted_version=deleted,
        ),
    )


def _comment_deleted(
    state: ProjectionState, event: Event, deletion: CommentDeleted, changes: Changes
) -> None:
    audit(event, changes)
    version = version_key(event)
    _remove(
        state,
        changes,
        COMMENTS,
        (deletion.comment_id,),
        version,
        "deleted_version",
        lambda: CommentRow(
            comment_id=deletion.comment_id,
            host_name=deletion.host_name,
            service_description=deletion.service_description or "",
            target_site=event.target_site,
            **_UNWRITTEN,
            deleted_version=version,
        ),
    )


def _check_rescheduled(
    state: ProjectionState, event: Event, _: CheckRescheduled, changes: Changes
) -> None:
    audit(event, changes)


HANDLERS: dict[type, Any] = {
    AcknowledgementSet: _ack_set,
    AcknowledgementRemoved: _ack_removed,
    DowntimeScheduled: _downtime_scheduled,
    DowntimeCancelled: _downtime_cancelled,
    CommentAdded: _comment_added,
    CommentDeleted: _comment_deleted,
    CheckRescheduled: _check_rescheduled,
}
