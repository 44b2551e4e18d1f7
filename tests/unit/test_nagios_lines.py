"""Any line from a Nagios engine: the two formats told apart, and what any text gives.

Properties: what a valid line makes can be encoded for a site log, and any text given
to ``parse_line`` fails with a one-line InvalidEventError, leaving the ids alone, or
makes a payload.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.poller.nagios.external_commands import format_command
from engine.poller.nagios.perfdata_file import format_perfdata_line
from schemas.codec import Codec
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.payload import Payload
from tests.support.nagios_lines import (
    GOOD,
    HOST_LINE,
    ORIGIN,
    SERVICE_LINE,
    T,
    commands,
    payload,
    perfdata_lines,
    seeded,
)


def test_the_line_formats_are_told_apart() -> None:
    with pytest.raises(InvalidEventError) as caught:
        payload("HOSTNAME::web1\tDATATYPE::HOSTPERFDATA")
    assert str(caught.value) == (
        "neither an external command ([timestamp] COMMAND;...) nor a perfdata line (DATATYPE::...)"
    )


CODEC = Codec()


@given(st.one_of(commands.map(format_command), perfdata_lines().map(format_perfdata_line)))
@settings(max_examples=150, deadline=None)
def test_what_a_valid_line_makes_can_be_appended_to_a_site_log(line: str) -> None:
    ids = seeded()
    try:
        made = payload(line, ids)
    except InvalidEventError:
        return  # a downtime Nagios would drop, or an id ingest has not seen
    event = Event.create(made, site="s1", origin=ORIGIN, clock=HybridLogicalClock())
    assert CODEC.decode(CODEC.encode(event)) == event


def _mutated(lines: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Lines with a few characters replaced, inserted or deleted."""
    pieces = st.sampled_from(["", ";", "\t", "::", "[", "]", " ", "\n", "\r", "x", "0", "9", "-"])

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        text = draw(lines)
        for _ in range(draw(st.integers(1, 3))):
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 3)))
            text = text[:start] + draw(pieces | st.characters()) + text[end:]
        return text

    return edit()


random_lines = st.one_of(
    st.text(),
    st.text().map("[".__add__),
    st.text().map(f"[{T}] ".__add__),
    st.text().map("DATATYPE::".__add__),
    _mutated(commands.map(format_command)),
    _mutated(perfdata_lines().map(format_perfdata_line)),
    _mutated(st.sampled_from([line for line, _, _ in GOOD] + [SERVICE_LINE, HOST_LINE])),
)


@given(random_lines)
@settings(max_examples=400, deadline=None)
def test_any_text_is_a_payload_or_an_invalid_event_error(line: str) -> None:
    ids = seeded()
    try:
        made = payload(line, ids)
    except InvalidEventError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert ids == seeded()
    else:
        assert isinstance(made, Payload)
