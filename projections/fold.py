"""The fold: which handler folds which payload, and folding one event or one batch.

Each handler module (``checks``, ``operations``, ``configuration``, ``pools``) names
the payloads it folds in its ``HANDLERS``; this module joins them, so imports go one
way: handlers -> state, fold -> handlers. A payload without a handler changes nothing
(a reschedule is only audited; a newer schema's payload is ignored by an older fold).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from projections import checks, configuration, operations, pools
from projections.rows import DeadLetterRow
from projections.state import Changes, ProjectionState
from projections.tables import DEAD_LETTERS
from schemas.event import Event
from schemas.payload import Payload

__all__ = ["HANDLERS", "apply", "fold_batch"]

Handler = Callable[[ProjectionState, Event, Any, Changes], None]

HANDLERS: dict[type[Payload], Handler] = {
    **checks.HANDLERS,
    **operations.HANDLERS,
    **configuration.HANDLERS,
    **pools.HANDLERS,
}


def apply(state: ProjectionState, event: Event, changes: Changes) -> None:
    """Fold one event into ``state``, recording row changes in ``changes``."""
    handler = HANDLERS.get(type(event.payload))
    if handler is not None:
        handler(state, event, event.payload, changes)


def fold_batch(
    state: ProjectionState,
    events: Iterable[tuple[int, Event]],
    dead_letters: Iterable[DeadLetterRow],
    changes: Changes,
    accept: Callable[[Event], bool] | None = None,
) -> int | None:
    """Fold a batch's accepted events into ``state`` and keep its dead letters in ``changes``.

    ``events`` are (offset, event) pairs of one partition, in offset order. Returns the
    event time of the batch's last event (accepted or not), None if it has none: it
    dates the partition's offset row. The offset row itself is the caller's.
    """
    last_event_time = None
    for _, event in events:
        if accept is None or accept(event):
            apply(state, event, changes)
        last_event_time = event.event_time
    for letter in dead_letters:
        changes.append(DEAD_LETTERS, letter)
    return last_event_time
