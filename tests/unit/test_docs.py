"""The docs stay true to the code: every page says where its code lives, every file, module
and route a page names exists, and the list of modules that meet aiokafka and psycopg is
the list of modules that import them.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from engine.api.app import ROUTES
from tests.support.docs import DOCUMENTS, MODULE, PAGES, PATH, ROOT, named_routes


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_each_page_starts_with_where_its_code_lives(page: Path) -> None:
    lines = [line for line in _text(page).splitlines() if line.strip()]
    assert lines[0].startswith("# "), "a page starts with its title"
    assert lines[1].startswith("Code: "), f"{page.name}: the line after the title says 'Code: ...'"
    named = PATH.findall(lines[1])
    assert named, f"{page.name}: the Code line names at least one path"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_named_file_exists(document: Path) -> None:
    missing = [p for p in PATH.findall(_text(document)) if not (ROOT / p.rstrip(".")).exists()]
    assert not missing, f"{document.name} names files that do not exist: {missing}"


def _resolves(dotted: str) -> bool:
    """A module, or an attribute of a module (``engine.poller.Producer``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            if cut == len(parts):
                return True
            target: object = importlib.import_module(module)
            for name in parts[cut:]:
                if not hasattr(target, name):
                    return False
                target = getattr(target, name)
            return True
    return False


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_named_module_exists(document: Path) -> None:
    missing = [m for m in MODULE.findall(_text(document)) if not _resolves(m)]
    assert not missing, f"{document.name} names modules that do not exist: {missing}"


def _route_pattern(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$")


SERVED = [_route_pattern(path) for _, path, _, _ in ROUTES] + [_route_pattern("/metrics")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_named_route_is_served(document: Path) -> None:
    unknown = [
        r
        for r in named_routes(_text(document))
        if not any(p.match(r) for p in SERVED) and not r.endswith("/commands/<name>")
    ]
    assert not unknown, f"{document.name} names routes no node serves: {unknown}"


def _importers(library: str) -> set[str]:
    found = set()
    for package in ("schemas", "projections", "engine"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(_text(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                if any(n == library or n.startswith((library + ".", library + "_")) for n in names):
                    found.add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("library", ["aiokafka", "psycopg"])
def test_design_choices_list_who_imports_each_library(library: str) -> None:
    lines = _text(ROOT / "docs" / "design-choices.md").splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.lstrip().startswith(f"- **{library}**")), None
    )
    assert start is not None, f"design-choices.md has a '- **{library}**' item"
    indent = " " * (len(lines[start]) - len(lines[start].lstrip()) + 2)
    item = [lines[start]]
    for line in lines[start + 1 :]:  # the item's wrapped lines
        if not line.startswith(indent):
            break
        item.append(line)
    listed = set(PATH.findall(" ".join(item)))
    assert listed == _importers(library), (
        f"listed but not importing: {sorted(listed - _importers(library))}; "
        f"importing but not listed: {sorted(_importers(library) - listed)}"
    )
