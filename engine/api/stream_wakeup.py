"""Waking the open streams when the change feed has news (one event per round of news)."""

from __future__ import annotations

import asyncio


class Subscribers:
    def __init__(self) -> None:
        self.news = asyncio.Event()

    def notify(self) -> None:
        self.news.set()
        self.news = asyncio.Event()  # later waiters wait for the next news
