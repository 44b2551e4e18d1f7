"""Loads the Avro schemas shipped in ``schemas/avro`` and knows every writer schema ever released.

The current schema is assembled from the ``.avsc`` files (named types first, the
envelope last) into one self-contained schema. Its CRC-64-AVRO fingerprint of the
Parsing Canonical Form identifies it on the wire. Every released version is frozen,
fully expanded, in ``avro/history/<fingerprint>.avsc``: records written by any of
them stay readable forever, resolved to the current schema by Avro's rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from schemas.errors import SchemaError

# Named types must be defined before they are used, so the files load in this order.
_SOURCE_FILES = (
    "types.avsc",
    "monitoring.avsc",
    "operations.avsc",
    "configuration.avsc",
    "pools.avsc",
)
_ENVELOPE_FILE = "envelope.avsc"

_CRC64_EMPTY = 0xC15D213AA4D7A795
_CRC64_TABLE: list[int] = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_CRC64_EMPTY & -(_fp & 1))
    _CRC64_TABLE.append(_fp)


def crc64_avro(data: bytes) -> bytes:
    """The Avro spec's 64-bit Rabin fingerprint, as the 8 little-endian bytes of the wire."""
    fp = _CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _CRC64_TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


@dataclass(frozen=True)
class WriterSchema:
    """One version of the envelope schema: its JSON, parsed form and fingerprint."""

    schema: dict[str, Any]
    parsed: Any
    canonical: str
    fingerprint: bytes

    @classmethod
    def from_json(cls, schema: dict[str, Any]) -> WriterSchema:
        try:
            parsed = fastavro.parse_schema(schema)
            canonical = to_parsing_canonical_form(parsed)
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise SchemaError(f"invalid Avro schema: {exc}") from exc
        return cls(schema, parsed, canonical, crc64_avro(canonical.encode()))


def _read_json(name: str) -> Any:
    path = resources.files("schemas").joinpath("avro", name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"cannot load schema file avro/{name}: {exc}") from exc


def _inline(node: Any, named: dict[str, Any], emitted: set[str]) -> Any:
    """Replace the first reference to each named type by its definition (Avro's rule)."""
    if isinstance(node, str):
        if node in named and node not in emitted:
            emitted.add(node)
            return _inline(named[node], named, emitted)
        return node
    if isinstance(node, list):
        return [_inline(item, named, emitted) for item in node]
    if isinstance(node, dict):
        out = dict(node)
        if out.get("type") == "record":
            emitted.add(_full_name(out))
            out["fields"] = [
                {**field, "type": _inline(field["type"], named, emitted)} for field in out["fields"]
            ]
        elif out.get("type") == "array":
            out["items"] = _inline(out["items"], named, emitted)
        elif out.get("type") == "map":
            out["values"] = _inline(out["values"], named, emitted)
        elif "name" in out:
            emitted.add(_full_name(out))
        return out
    return node


def _full_name(schema: dict[str, Any]) -> str:
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def load_current_schema() -> dict[str, Any]:
    """The current envelope schema, as one self-contained JSON document."""
    named: dict[str, Any] = {}
    for filename in _SOURCE_FILES:
        for definition in _read_json(filename):
            named[_full_name(definition)] = definition
    return _inline(_read_json(_ENVELOPE_FILE), named, set())  # type: ignore[no-any-return]


def load_history() -> list[WriterSchema]:
    """Every frozen (released) version of the envelope schema."""
    folder = resources.files("schemas").joinpath("avro", "history")
    writers = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".avsc"):
            writers.append(WriterSchema.from_json(_read_json(f"history/{entry.name}")))
    return writers


class SchemaRegistry:
    """The current reader schema and every known writer schema, by fingerprint."""

    def __init__(self, current: WriterSchema, writers: list[WriterSchema]) -> None:
        self.current = current
        self._writers = {w.fingerprint: w for w in writers}
        self._writers[current.fingerprint] = current

    @classmethod
    def default(cls) -> SchemaRegistry:
        return cls(WriterSchema.from_json(load_current_schema()), load_history())

    def register(self, writer: WriterSchema) -> None:
        """Make records written with another schema version readable."""
        self._writers[writer.fingerprint] = writer

    def writer(self, fingerprint: bytes) -> WriterSchema | None:
        return self._writers.get(fingerprint)

    @property
    def fingerprints(self) -> list[bytes]:
        return list(self._writers)


def freeze_current() -> str:
    """Write the current schema into ``avro/history`` (run when a schema change is released).

    Returns the file name. A test fails while the current schema is not frozen, so a
    change to an ``.avsc`` file cannot ship without its reader-side history.
    """
    current = WriterSchema.from_json(load_current_schema())
    name = f"{current.fingerprint.hex()}.avsc"
    target = resources.files("schemas").joinpath("avro", "history", name)
    with resources.as_file(target) as path:
        path.write_text(json.dumps(current.schema, indent=1) + "\n", encoding="utf-8")
    return name


if __name__ == "__main__":
    print(f"froze schemas/avro/history/{freeze_current()}")
