"""Waking the open streams when the change feed has news (one event per round of news),
and ending them when the server stops."""

from __future__ import annotations

import asyncio


class Subscribers:
    def __init__(self) -> None:
        self.news = asyncio.Event()
        #: The server is stopping: every stream ends at its next wake-up.
        self.closing = False

    def notify(self) -> None:
        self.news.set()
        self.news = asyncio.Event()  # later waiters wait for the next news

    def close(self) -> None:
        """End every open stream now (a stopping server would otherwise wait for each)."""
        self.closing = True
        self.notify()
