"""What the compiled Avro reader and writer share: building functions from generated source.

A generator appends the lines of one function per record type to ``functions`` and
the objects those lines use to ``constants`` (named ``_cN``); :meth:`build` compiles
them all into one namespace, where a record's function calls another through the
``FUNCTIONS`` table. :func:`source_of` shows what was generated, for a curious reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class SourceBuilder:
    def __init__(self, classes: Mapping[str, type], helpers: Mapping[str, Any]) -> None:
        self.classes = classes
        #: Named Avro types met so far, for references by name.
        self.named: dict[str, Any] = {}
        self.constants: dict[str, Any] = dict(helpers)
        self.functions: dict[str, list[str]] = {}

    def constant(self, value: Any) -> str:
        """The name under which the generated source sees ``value``."""
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def build(self, top: str, filename: str) -> Callable[..., Any]:
        """Compile every generated function; returns the one named ``top``."""
        source = "\n\n".join("\n".join(lines) for lines in self.functions.values())
        namespace: dict[str, Any] = dict(self.constants)
        exec(compile(source, filename, "exec"), namespace)
        namespace["FUNCTIONS"] = {name: namespace[name] for name in self.functions}
        function: Callable[..., Any] = namespace[top]
        function.__sitelog_source__ = source  # type: ignore[attr-defined]
        return function


def source_of(function: Callable[..., Any]) -> str:
    """The generated source behind a compiled reader or writer."""
    return str(function.__sitelog_source__)  # type: ignore[attr-defined]
