"""The lifecycle of a component that is started and stopped (site log writers and readers),
and ``Service``, the ``async with`` of every such component.

``NEW`` -> ``STARTED`` -> ``STOPPED``. Starting twice, using a component before its
start or after its stop is a bug in the caller and raises :class:`LifecycleError` naming
the component. Stopping twice is allowed and does nothing: cleanup paths (``finally``,
``__aexit__``) may stop what an error path already stopped. A failed start leaves the
component ``NEW``, so it may be started again (a node's writer retries a broker that was
away at start). A stopped component is not restarted: make a new one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from engine.errors import LifecycleError

__all__ = ["Lifecycle", "Service"]


class Lifecycle(StrEnum):
    NEW = "new"
    STARTED = "started"
    STOPPED = "stopped"

    def check_start(self, what: str) -> None:
        """Raise unless a component in this state may be started."""
        if self is Lifecycle.STARTED:
            raise LifecycleError(f"{what} is already started")
        if self is Lifecycle.STOPPED:
            raise LifecycleError(f"{what} was stopped; make a new one")

    def check_use(self, what: str) -> None:
        """Raise unless a component in this state may be used."""
        if self is Lifecycle.NEW:
            raise LifecycleError(f"{what} is not started")
        if self is Lifecycle.STOPPED:
            raise LifecycleError(f"{what} was stopped")


class Service:
    """A component that is started and stopped: ``async with`` starts it, and stops it on
    the way out, also when the body raised."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> object:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
