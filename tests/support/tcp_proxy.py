"""A plain TCP proxy in front of a node's HTTP port, which a test can cut, restore and
point at another port: a browser behind it loses its connections (the live stream
included) exactly as it would when the network between it and the node fails.

It runs on the test's own event loop. Unlike ``kafka_proxy``, nothing is rewritten: HTTP
clients keep talking to the address they were given.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.host, self.upstream_port = host, upstream_port
        self.port = 0
        self._open = True
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._open = False
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    def restore(self, upstream_port: int | None = None) -> None:
        """Accept connections again, to the same upstream or to ``upstream_port``."""
        if upstream_port is not None:
            self.upstream_port = upstream_port
        self._open = True

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if not self._open:
            client_w.transport.abort()
            return
        try:
            node_r, node_w = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            client_w.transport.abort()
            return
        self._links.update((client_w, node_w))
        try:
            await asyncio.gather(self._pipe(client_r, node_w), self._pipe(node_r, client_w))
        finally:
            for writer in (client_w, node_w):
                self._links.discard(writer)
                writer.transport.abort()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.transport.abort()  # one side ended: so does the other
