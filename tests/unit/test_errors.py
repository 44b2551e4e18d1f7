"""The error tree drawn in ``schemas.errors`` is the tree in the code, policies included, and
the policies decide what the running parts retry."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

import engine
import projections
import schemas
from engine.errors import LifecycleError, LogError, LogGapError, LogWentBackwardsError
from projections.errors import DatabaseError, DatabaseUnavailableError
from schemas.errors import SitelogError

_LINE = re.compile(
    r"^(?P<lead>[ │├└─]*)(?P<name>[A-Z]\w+)\s+(?P<layer>\w+)?\s*(?P<retry>retriable)?"
)


def _drawn() -> dict[str, tuple[str | None, str, bool]]:
    """Each class of the docstring's tree: (parent, layer, retriable)."""
    doc = schemas.errors.__doc__ or ""
    tree = doc[doc.index("    SitelogError") :].split("\n\n")[0].splitlines()
    drawn: dict[str, tuple[str | None, str, bool]] = {"SitelogError": (None, "schemas", False)}
    parents = ["SitelogError"]
    for line in tree[1:]:
        match = _LINE.match(line.strip("\n")[4:])
        assert match, f"cannot read the tree line {line!r}"
        depth = len(match["lead"]) // 4 - 1
        parents[depth + 1 :] = [match["name"]]
        drawn[match["name"]] = (parents[depth], match["layer"], bool(match["retry"]))
    return drawn


def _every_error() -> dict[str, type[SitelogError]]:
    for package in (schemas, projections, engine):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
    found: dict[str, type[SitelogError]] = {}
    queue: list[type[SitelogError]] = [SitelogError]
    while queue:
        cls = queue.pop()
        found[cls.__name__] = cls
        queue.extend(cls.__subclasses__())
    return found


def test_the_drawn_tree_is_the_code() -> None:
    drawn, code = _drawn(), _every_error()
    only_drawn, only_code = sorted(set(drawn) - set(code)), sorted(set(code) - set(drawn))
    assert not only_drawn and not only_code, f"drawn only: {only_drawn}; code only: {only_code}"
    for name, (parent, layer, retriable) in drawn.items():
        cls = code[name]
        if parent is not None:
            assert [b.__name__ for b in cls.__bases__ if issubclass(b, SitelogError)] == [parent]
        assert cls.__module__.split(".")[0] == layer, f"{name} is defined in {cls.__module__}"
        assert cls.retriable is retriable, f"{name}.retriable is {cls.retriable}"


def test_a_translated_kafka_error_keeps_its_policy() -> None:
    assert LogError("x", retriable=KafkaConnectionError.retriable).retriable is True
    assert LogError("x", retriable=TopicAuthorizationFailedError.retriable).retriable is False
    assert LogError("x").retriable is True


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (LogWentBackwardsError("s", 0, 10, 5), False),
        (LogGapError("s", 0, 5, 10), False),
        (DatabaseUnavailableError("down"), True),
        (DatabaseError("refused"), False),
        (LifecycleError("twice"), False),
    ],
)
def test_policies_of_the_faults_the_node_meets(error: SitelogError, retriable: bool) -> None:
    assert error.retriable is retriable
    assert "\n" not in str(error)
