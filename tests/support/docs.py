"""What the docs name: the documents, and the paths, modules and routes they mention."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["DOCUMENTS", "MODULE", "PAGES", "PATH", "ROOT", "named_routes"]

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *PAGES]
PATH = re.compile(r"`((?:engine|projections|schemas|tests|benchmarks|docker|docs)/[\w./-]*)`")
MODULE = re.compile(r"`((?:engine|projections|schemas)(?:\.\w+)+)(?:\.\w+\(\))?[`(:]")
ROUTE = re.compile(r"(?<![\w/])(/api/v1/[\w{}<>/.-]*|/healthz|/metrics)")


def named_routes(text: str) -> list[str]:
    routes = []
    for route in ROUTE.findall(text):
        route = route.rstrip(".,)/").split("?")[0]
        if route.endswith("/api/v1") or route == "/api/v1/":
            continue
        routes.append(route)
    return routes
