"""A compiled Avro binary reader for events of the current schema: the writer's mirror.

fastavro's ``schemaless_reader`` builds dicts that the codec then turns into the
event dataclasses, about 20 µs per check result: the largest cost of replaying a log.
This module generates, once per record type, a straight-line function that reads the
Avro binary and builds the event and payload dataclasses directly (enum members,
tuples, None for null branches). It reads only records written with the current
schema; records of older writer schemas still go through fastavro, which resolves
them (``schemas.codec``). A hypothesis property checks that both give equal events.

A truncated or corrupt body raises an ordinary Python exception (IndexError,
UnicodeDecodeError, struct.error, ValueError), which the codec turns into a dead
letter; a text holding NUL raises :class:`NulError` naming the field.
"""

from __future__ import annotations

import enum
import struct
import typing
from collections.abc import Callable, Mapping
from typing import Any

from schemas.avro_codegen import SourceBuilder
from schemas.errors import SchemaError

Read = Callable[[bytes, int], tuple[Any, int]]


class NulError(ValueError):
    """A text field holds a NUL character (PostgreSQL text cannot store it)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint at ``pos``: the value and the position after it."""
    n = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _nul(path: str) -> None:
    raise NulError(path)


def _enum_of(cls: type | None, field: str) -> type[enum.Enum] | None:
    if cls is None:
        return None
    hint = typing.get_type_hints(cls).get(field)
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return candidate
    return None


# Lines reading one varint into ``name`` (its fast path inlined: one byte, most values).
_VARINT = (
    "b = data[pos]",
    "pos += 1",
    "if b < 128: {name} = (b >> 1) ^ -(b & 1)",
    "else: {name}, pos = read_long(data, pos - 1)",
)


class _Generator(SourceBuilder):
    """Writes the source of one function per record; fields are read in schema order."""

    def __init__(self, classes: Mapping[str, type]) -> None:
        super().__init__(
            classes,
            {
                "read_long": read_long,
                "_nul": _nul,
                "_unpack_double": struct.Struct("<d").unpack_from,
            },
        )

    def record_function(self, schema: dict[str, Any], path: str) -> str:
        name: str = "read_" + schema["name"].replace(".", "_")
        if name in self.functions:
            return name
        self.functions[name] = []  # reserved first: records may refer to each other
        cls = self.classes.get(schema["name"])
        if cls is None:
            raise SchemaError(f"no class for record {schema['name']} ({path})")
        lines = [f"def {name}(data, pos):"]
        prefix = f"{path}." if path else ""
        arguments = []
        for i, field in enumerate(schema["fields"]):
            target = f"f{i}"
            enum_cls = _enum_of(cls, field["name"])
            lines += self.value(field["type"], prefix + field["name"], target, enum_cls, "    ")
            arguments.append(f"{field['name']}={target}")
        lines.append(f"    return {self.constant(cls)}({', '.join(arguments)}), pos")
        self.functions[name] = lines
        return name

    def value(
        self, schema: Any, path: str, target: str, enum_cls: type[enum.Enum] | None, indent: str
    ) -> list[str]:
        """Lines reading a value of type ``schema`` at ``pos`` into ``target``."""
        if isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        if isinstance(schema, dict) and "name" in schema:
            self.named.setdefault(schema["name"], schema)
        if isinstance(schema, list):
            lines = self.union(schema, path, target, enum_cls)
        else:
            kind = schema if isinstance(schema, str) else schema["type"]
            lines = self.typed(kind, schema, path, target, enum_cls)
        return [indent + line for line in lines]

    def typed(
        self, kind: str, schema: Any, path: str, target: str, enum_cls: type[enum.Enum] | None
    ) -> list[str]:
        if kind == "null":
            return [f"{target} = None"]
        if kind == "boolean":
            return [f"{target} = data[pos] != 0", "pos += 1"]
        if kind == "double":
            return [f"{target} = _unpack_double(data, pos)[0]", "pos += 8"]
        if kind in ("int", "long"):
            return [line.format(name=target) for line in _VARINT]
        if kind == "string":
            return [
                *(line.format(name="n") for line in _VARINT),
                "end = pos + n",
                "if n < 0 or end > len(data): raise ValueError('string past the end')",
                f"{target} = data[pos:end].decode()",
                "pos = end",
                f"if '\\x00' in {target}: _nul({path!r})",
            ]
        if kind == "fixed":
            size = schema["size"]
            return [
                f"{target} = data[pos:pos + {size}]",
                f"if len({target}) != {size}: raise ValueError('fixed past the end')",
                f"pos += {size}",
            ]
        if kind == "enum":
            if enum_cls is None:
                raise SchemaError(f"no enum class for {path}")
            members = self.constant(tuple(enum_cls[symbol] for symbol in schema["symbols"]))
            return [*(line.format(name="i") for line in _VARINT), f"{target} = {members}[i]"]
        if kind == "array":
            items = self.value(schema["items"], f"{path}[]", "item", None, "        ")
            return [
                "items = []",
                "while True:",
                *(f"    {line.format(name='count')}" for line in _VARINT),
                "    if count == 0: break",
                "    if count < 0:",  # a negative count is followed by the block's size
                "        count = -count",
                *(f"        {line.format(name='size')}" for line in _VARINT),
                "    for _ in range(count):",
                *items,
                "        items.append(item)",
                f"{target} = tuple(items)",
            ]
        if kind == "record":
            return [f"{target}, pos = {self.record_function(schema, path)}(data, pos)"]
        raise SchemaError(f"the compiled Avro reader does not support type {kind!r} ({path})")

    def union(
        self, branches: list[Any], path: str, target: str, enum_cls: type[enum.Enum] | None
    ) -> list[str]:
        lines = [line.format(name="branch") for line in _VARINT]
        if len(branches) == 2 and "null" in branches:
            other = 1 - branches.index("null")
            return [
                *lines,
                f"if branch == {other}:",
                *self.value(branches[other], path, target, enum_cls, "    "),
                f"elif branch == {1 - other}: {target} = None",
                "else: raise ValueError('bad union branch')",
            ]
        readers = []
        for branch in branches:
            schema = self.named.get(branch, branch) if isinstance(branch, str) else branch
            self.named.setdefault(schema["name"], schema)
            readers.append(self.record_function(schema, path))
        table = self.constant(readers)
        return [
            *lines,
            "if branch < 0: raise ValueError('bad union branch')",
            f"{target}, pos = FUNCTIONS[{table}[branch]](data, pos)",
        ]


def compile_reader(schema: dict[str, Any], classes: Mapping[str, type]) -> Read:
    """The reader of record ``schema`` (fastavro-parsed) into the dataclasses ``classes`` names."""
    generator = _Generator(classes)
    top = generator.record_function(schema, "")
    reader: Read = generator.build(top, "<sitelog avro reader>")
    return reader
