"""Dead letters of a projection: list them, and re-process those a newer version decodes.

A record that did not decode (unknown schema fingerprint, corrupt body, a value the
projection cannot store) is kept as a dead letter with its site, partition, offset,
reason and raw bytes, and the projection goes on without it. After an upgrade that
knows the record's writer schema, ``retry`` decodes the dead letters again and folds
those that now decode into the projection, as if they had been read in their turn:
the fold gives the same rows whatever the order (the convergence invariant). The
whole retry is one transaction holding the projection alone; it bumps the
projection's generation so that a running node loads the result back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from projections import fold
from projections.postgres import PostgresSink
from projections.rows import DeadLetterRow
from projections.state import Changes, ProjectionState
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.event import Event


@dataclass
class Retried:
    """What a retry did: the dead letters folded in, and those still undecodable."""

    reprocessed: list[DeadLetterRow] = field(default_factory=list)
    still_dead: list[tuple[DeadLetterRow, str]] = field(default_factory=list)  # with the reason


def list_dead_letters(dsn: str, schema: str) -> list[DeadLetterRow]:
    with PostgresSink.connect(dsn, schema) as sink:
        return sink.load_dead_letters()


def retry(
    dsn: str, schema: str, *, codec: Codec | None = None, accept: Callable[[Event], bool] | None
) -> Retried:
    """Fold every dead letter that ``codec`` now decodes into the projection, and forget it."""
    codec = codec or Codec()
    result = Retried()
    with PostgresSink.connect(dsn, schema) as sink, sink.exclusive():
        letters = sink.load_dead_letters()
        state = ProjectionState.from_rows(sink.load_registers())
        changes = Changes()
        for letter in letters:
            try:
                event = codec.decode(letter.record_value or b"")
            except DecodeError as err:
                result.still_dead.append((letter, f"{err.reason}: {err}"))
                continue
            if accept is None or accept(event):
                fold.apply(state, event, changes)
            result.reprocessed.append(letter)
        if result.reprocessed:
            sink.write(changes)
            sink.delete_dead_letters(
                [(r.site, r.partition, r.record_offset) for r in result.reprocessed]
            )
            sink.bump_generation()
    return result
