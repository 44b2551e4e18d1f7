"""A TCP proxy in front of one Kafka-protocol broker, which a test can cut and restore.

Kafka clients connect to the broker addresses that Metadata responses advertise, so
a plain TCP proxy would be bypassed after the first request. This one rewrites the
broker addresses of every Metadata response (v0 to v5, what aiokafka speaks) to its
own, so a client bootstrapped through it stays behind it: cutting the proxy cuts that
client off, exactly like a WAN link going down, while other clients of the same
broker (the site's own node and pollers) connect directly and keep working.

:meth:`KafkaProxy.lose_next_answer` cuts the link at the worst moment instead: after
the broker acted on a request (a Produce: the batch is written) and before its answer
reaches the client, which then cannot know whether the batch was written.

It runs its own event loop in a thread, so a synchronous test can drive it.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from typing import Any

from aiokafka.protocol import metadata

from engine.dev.process import free_port

_METADATA = 3
_RESPONSES: dict[int, Any] = {
    cls.API_VERSION: cls
    for cls in (
        metadata.MetadataResponse_v0,
        metadata.MetadataResponse_v1,
        metadata.MetadataResponse_v2,
        metadata.MetadataResponse_v3,
        metadata.MetadataResponse_v4,
        metadata.MetadataResponse_v5,
    )
}


class KafkaProxy:
    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._open = True
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.cuts = 0
        self._lose: int | None = None
        #: Answers dropped by :meth:`lose_next_answer` so far.
        self.lost_answers = 0

    def __enter__(self) -> KafkaProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a WAN cut would."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)

    def restore(self) -> None:
        self._open = True

    def lose_next_answer(self, api_key: int) -> None:
        """Drop the broker's next answer to an ``api_key`` request (0: Produce) and cut
        every link, as :meth:`cut` does, until :meth:`restore`: the broker acted on the
        request, and its client never hears so."""
        self._lose = api_key

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        await self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _cut(self) -> None:
        self._open = False
        self.cuts += 1
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if not self._open:
            client_w.transport.abort()
            return
        try:
            broker_r, broker_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.transport.abort()
            return
        self._links.update((client_w, broker_w))
        pending: dict[int, tuple[int, int]] = {}
        try:
            await asyncio.gather(
                self._requests(client_r, broker_w, pending),
                self._responses(broker_r, client_w, pending),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_w, broker_w):
                self._links.discard(writer)
                writer.transport.abort()

    async def _requests(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pending: dict[int, tuple[int, int]],
    ) -> None:
        while True:
            size = await source.readexactly(4)
            body = await source.readexactly(int.from_bytes(size, "big"))
            api_key, api_version, correlation = struct.unpack(">hhi", body[:8])
            pending[correlation] = (api_key, api_version)
            sink.write(size + body)
            await sink.drain()

    async def _responses(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pending: dict[int, tuple[int, int]],
    ) -> None:
        while True:
            size = await source.readexactly(4)
            body = await source.readexactly(int.from_bytes(size, "big"))
            correlation = int.from_bytes(body[:4], "big", signed=True)
            api_key, api_version = pending.pop(correlation, (-1, -1))
            if api_key == self._lose:
                self._lose = None
                self.lost_answers += 1
                await self._cut()
                return
            if api_key == _METADATA and api_version in _RESPONSES:
                response = _RESPONSES[api_version].decode(body[4:])
                response.brokers = [
                    (b[0], "127.0.0.1", self.port, *b[3:]) for b in response.brokers
                ]
                body = body[:4] + response.encode()
                size = len(body).to_bytes(4, "big")
            sink.write(size + body)
            await sink.drain()
