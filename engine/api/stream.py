"""``GET /api/v1/stream``: projection changes as Server-Sent Events, resumable.

Each event is one changed row (``event: state|acknowledgement|downtime|comment``,
``data:`` its JSON, ``id:`` its feed id). A client that reconnects sends the last id
it saw (the ``Last-Event-ID`` header, as browsers' EventSource do, or ``?last_event_id=``)
and gets every change it missed, in order. If the feed no longer holds them (the node
restarted, or the client was away longer than the ring holds), the first event is
``reset``: reload the lists, then keep reading. Filters: ``types``, ``site``,
``host``, ``service``, ``state``. After 15 s without a change the node sends a
``heartbeat`` event (``data: {"at": now}``), so a client knows the stream is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import web

from engine.api import params, views
from engine.api.change_feed import KINDS, Change, ChangeFeed, ChangeFilter, ResumeError
from engine.api.context import Context, allowed_sites, context
from engine.api.errors import bad_request
from schemas.types import now_us

HEARTBEAT = 15.0  # seconds of silence before a heartbeat event
_STATES = views.HOST_STATE_CODES | views.SERVICE_STATE_CODES


def _filter(request: web.Request) -> ChangeFilter:
    query = request.query
    kinds = None
    if (raw := query.get("types")) is not None:
        kinds = frozenset(params.names(raw, "types"))
        if unknown := sorted(kinds - set(KINDS.values())):
            raise bad_request(
                f"parameter 'types': {unknown[0]!r} is not one of {', '.join(KINDS.values())}"
            )
    sites = allowed_sites(request, params.optional_names(query, "site"))
    states = None
    if (raw := query.get("state")) is not None:
        states = frozenset(params.choices(raw, "state", _STATES))
    return ChangeFilter(
        kinds=kinds,
        sites=None if sites is None else frozenset(sites),
        host=params.optional_text(query, "host"),
        service=params.optional_text(query, "service"),
        states=states,
    )


def _last_id(request: web.Request) -> str | None:
    """The id the client resumes after: the ``Last-Event-ID`` header, else the parameter."""
    if header := request.headers.get("Last-Event-ID"):
        return params.text(header, "Last-Event-ID", what="header")
    if parameter := request.query.get("last_event_id"):
        return params.text(parameter, "last_event_id")
    return None


def _resume(feed: ChangeFeed, last_id: str) -> tuple[int, dict[str, Any] | None]:
    """Where a client that saw ``last_id`` resumes, and the reset it gets if it cannot."""
    # Our ids are ASCII; another must not reach the feed's parsing, which would take
    # digits like '²' (str.isdigit does) that int refuses.
    if not last_id.isascii():
        return feed.last_seq, {"reason": f"id {params.quoted(last_id)} is not from this feed"}
    try:
        return feed.resume_point(last_id), None
    except ResumeError as exc:
        return feed.last_seq, {"reason": str(exc)}


def _frame(feed_id: str, change: Change) -> bytes:
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        feed_id.encode(),
        change.kind.encode(),
        change.data,
    )


async def stream(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    feed = ctx.feed
    wanted = _filter(request)
    seq, reset = feed.last_seq, None  # a client that gives no id starts from now
    if last_id := _last_id(request):
        seq, reset = _resume(feed, last_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    with contextlib.suppress(ConnectionResetError):  # the client left: a normal end
        await _follow(response, ctx, wanted, seq, reset)
    return response


async def _follow(
    response: web.StreamResponse,
    ctx: Context,
    wanted: ChangeFilter,
    seq: int,
    reset: dict[str, Any] | None,
) -> None:
    feed = ctx.feed
    # The first frame carries the current id, so a client that sees nothing else still
    # has a point to resume from.
    first = b"id: %s\nevent: %s\ndata: %s\n\n" % (
        feed.id_of(seq).encode(),
        b"reset" if reset else b"hello",
        orjson.dumps(reset or {"epoch": feed.epoch}),
    )
    await response.write(first)
    subscribers = ctx.subscribers
    while not subscribers.closing:
        news = subscribers.news
        if not feed.holds(seq):  # this client fell behind the ring
            seq = feed.last_seq
            reason = {"reason": "this client fell behind the feed; reload the lists"}
            await response.write(
                b"id: %s\nevent: reset\ndata: %s\n\n"
                % (feed.id_of(seq).encode(), orjson.dumps(reason))
            )
        changes = feed.after(seq)
        if changes:
            chunk = b"".join(_frame(feed.id_of(c.seq), c) for c in changes if wanted.matches(c))
            seq = changes[-1].seq
            if chunk:
                await response.write(chunk)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(news.wait(), HEARTBEAT)
            continue
        # A heartbeat keeps proxies from closing the stream and tells a page it is still
        # live (a browser's EventSource hides comments); the id moves the client's resume
        # point past changes it filtered out.
        beat = b'id: %s\nevent: heartbeat\ndata: {"at": %d}\n\n'
        await response.write(beat % (feed.id_of(seq).encode(), now_us()))
