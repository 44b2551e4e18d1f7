"""A compiled Avro binary writer for events: Python source generated once per record type.

fastavro's ``schemaless_writer`` re-walks the schema on every call and needs the event
turned into dicts first; together they cost more per event than a Kafka send. This
module generates, once per record type of the schema, a straight-line function that
reads the event or payload dataclass attributes and appends their Avro encoding to a
bytearray, the way ``dataclasses`` generates ``__init__``. A poller's producer can then
encode faster than the broker client sends. It writes exactly the bytes fastavro
writes (a hypothesis property checks it for every event type); decoding stays with
fastavro. ``schemas.avro_codegen.source_of`` shows what was generated.

Only the Avro types the sitelog schemas use are supported: null, boolean, int, long,
double, string, fixed, enum, array, record, optional unions and unions of records.
A bad value raises :class:`~schemas.errors.InvalidEventError` naming the field.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from schemas.avro_codegen import SourceBuilder
from schemas.errors import InvalidEventError, SchemaError

Write = Callable[[bytearray, Any], None]

_INT_BITS = {"int": 31, "long": 63}


def write_long(out: bytearray, value: int) -> None:
    """Zig-zag varint, Avro's encoding of int and long."""
    n = (value << 1) ^ (value >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _varint(value: int) -> bytes:
    out = bytearray()
    write_long(out, value)
    return bytes(out)


def _bad(path: str, problem: str) -> None:
    raise InvalidEventError(f"field {path!r}: {problem}")


def _enum_miss(table: dict[Any, bytes], symbols: dict[str, bytes], value: Any, path: str) -> bytes:
    """Index of an enum member seen for the first time, found by its name and then cached."""
    tag = symbols.get(getattr(value, "name", None))  # type: ignore[arg-type]
    if tag is None:
        _bad(path, f"{value!r} is not one of {', '.join(symbols)}")
        raise AssertionError  # unreachable: _bad raises
    table[value] = tag
    return tag


class _Generator(SourceBuilder):
    """Writes the source of one function per record, each field inlined."""

    def __init__(self, classes: Mapping[str, type]) -> None:
        super().__init__(
            classes,
            {
                "write_long": write_long,
                "_bad": _bad,
                "_enum_miss": _enum_miss,
                "_pack_double": struct.Struct("<d").pack,
            },
        )

    def record_function(self, schema: dict[str, Any], path: str) -> str:
        """The name of the function writing record ``schema`` (generated on first use)."""
        name: str = "write_" + schema["name"].replace(".", "_")
        if name not in self.functions:
            self.functions[name] = []  # reserved first: records may refer to each other
            lines = [f"def {name}(out, record):"]
            prefix = f"{path}." if path else ""
            for field in schema["fields"]:
                lines.append(f"    v = record.{field['name']}")
                lines += self.value(field["type"], prefix + field["name"], "    ")
            if len(lines) == 1:
                lines.append("    pass")
            self.functions[name] = lines
        return name

    def value(self, schema: Any, path: str, indent: str) -> list[str]:
        """Lines appending the encoding of ``v`` (of type ``schema``) to ``out``."""
        if isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        if isinstance(schema, list):
            return self.union(schema, path, indent)
        kind = schema if isinstance(schema, str) else schema["type"]
        if isinstance(schema, dict) and "name" in schema:
            self.named.setdefault(schema["name"], schema)
        lines = (
            self.primitive(kind, path) if isinstance(schema, str) else self.complex(schema, path)
        )
        return [indent + line for line in lines]

    def primitive(self, kind: str, path: str) -> list[str]:
        if kind == "null":
            return ["pass"]
        if kind == "boolean":
            return ["out.append(1 if v else 0)"]
        if kind == "double":
            return ["out += _pack_double(v)"]
        if kind == "string":
            return [
                # PostgreSQL text cannot store NUL, so such a value never enters a log.
                f"if '\\x00' in v: _bad({path!r}, 'contains a NUL character')",
                "b = v.encode()",
                "n = len(b)",
                "if n < 64: out.append(n << 1)",
                "else: write_long(out, n)",
                "out += b",
            ]
        if kind in _INT_BITS:
            bits = _INT_BITS[kind]
            low, high = -(1 << bits), (1 << bits) - 1
            return [
                f"if not {low} <= v <= {high}:",
                f"    _bad({path!r}, f'{{v}} does not fit in {bits + 1} bits')",
                "if 0 <= v < 64: out.append(v << 1)",
                "else: write_long(out, v)",
            ]
        raise SchemaError(f"the compiled Avro writer does not support type {kind!r} ({path})")

    def complex(self, schema: dict[str, Any], path: str) -> list[str]:
        kind = schema["type"]
        if kind == "record":
            return [f"{self.record_function(schema, path)}(out, v)"]
        if kind == "enum":
            symbols = {symbol: _varint(i) for i, symbol in enumerate(schema["symbols"])}
            table, names = self.constant({}), self.constant(symbols)
            return [
                f"t = {table}.get(v)",
                f"if t is None: t = _enum_miss({table}, {names}, v, {path!r})",
                "out += t",
            ]
        if kind == "fixed":
            size = schema["size"]
            return [
                f"if type(v) is not bytes or len(v) != {size}:",
                f"    _bad({path!r}, 'expected {size} bytes')",
                "out += v",
            ]
        if kind == "array":
            item = self.value(schema["items"], f"{path}[]", "        ")
            return [
                "items = v",
                "if items:",
                "    write_long(out, len(items))",
                "    for v in items:",
                *item,
                "out.append(0)",
            ]
        return self.primitive(kind, path)

    def union(self, branches: list[Any], path: str, indent: str) -> list[str]:
        if len(branches) == 2 and "null" in branches:
            null_index = branches.index("null")
            return [
                f"{indent}if v is None: out += {_varint(null_index)!r}",
                f"{indent}else:",
                f"{indent}    out += {_varint(1 - null_index)!r}",
                *self.value(branches[1 - null_index], path, indent + "    "),
            ]
        # A union of records (the payload): the branch is chosen by the value's class.
        by_class: dict[type, tuple[bytes, str]] = {}
        for index, branch in enumerate(branches):
            schema = self.named.get(branch, branch) if isinstance(branch, str) else branch
            self.named.setdefault(schema["name"], schema)
            if schema["name"] in self.classes:
                by_class[self.classes[schema["name"]]] = (
                    _varint(index),
                    self.record_function(schema, path),
                )
        table = self.constant(by_class)
        return [
            f"{indent}branch = {table}.get(type(v))",
            f"{indent}if branch is None:",
            f"{indent}    _bad({path!r}, f'{{type(v).__name__}} is not in the union')",
            f"{indent}out += branch[0]",
            f"{indent}FUNCTIONS[branch[1]](out, v)",
        ]


def compile_writer(schema: dict[str, Any], classes: Mapping[str, type]) -> Write:
    """The writer of record ``schema`` (fastavro-parsed) for the dataclasses ``classes`` names."""
    generator = _Generator(classes)
    top = generator.record_function(schema, "")
    writer: Write = generator.build(top, "<sitelog avro writer>")
    return writer
