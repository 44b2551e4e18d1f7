"""Answers the write path needs from the in-memory projection: who owns what.

Pure reads of ``ProjectionState``: the site owning a host (its definition, else the
site its results come from), and the subject of a downtime or comment by id.
"""

from __future__ import annotations

from projections.rows import CommentRow, DowntimeRow
from projections.state import ProjectionState
from projections.tables import COMMENTS, CONFIG_HOSTS, CONFIG_POLLERS, DOWNTIMES, STATES


def host_site(state: ProjectionState, host_name: str) -> str | None:
    """The site that owns ``host_name``, or None when the projection does not know it."""
    definition = state.get(CONFIG_HOSTS, (host_name,))
    if definition is not None and not definition.removed and definition.site_name:
        return definition.site_name
    result = state.get(STATES, (host_name, ""))
    return None if result is None else result.target_site


def downtime(state: ProjectionState, downtime_id: str) -> DowntimeRow | None:
    row = state.get(DOWNTIMES, (downtime_id,))
    return row if row is not None and row.version is not None else None


def comment(state: ProjectionState, comment_id: str) -> CommentRow | None:
    row = state.get(COMMENTS, (comment_id,))
    return row if row is not None and row.version is not None else None


def poller_site(state: ProjectionState, poller_name: str) -> str | None:
    definition = state.get(CONFIG_POLLERS, (poller_name,))
    return None if definition is None else definition.site_name or None
