"""Reading Nagios object definitions: the lexer of ``define`` blocks and the includes.

What this reads, following Nagios 4's own reader (``xdata/xodtemplate.c``):

* ``define <type> { ... }`` blocks, one ``key value`` directive a line (the value is the rest
  of the line, spaces inside kept), the closing ``}`` alone on its line;
* comments: a line whose first character is ``#`` or ``;``, and the rest of any line from the
  first ``;`` not escaped as ``\\;`` (the escaped one is kept as ``;``);
* a line ending with a backslash continues on the next one;
* ``include_file=`` / ``include_dir=`` in object files, and ``cfg_file=`` / ``cfg_dir=`` (and
  ``interval_length=``) in a main configuration file (``nagios.cfg``); relative paths are read
  from the directory of the file that names them; a directory is read recursively, its
  ``*.cfg`` files only, hidden entries skipped, in name order.

Every object keeps its file and the line of its ``define``. Object types the importer does not
turn into configuration (commands, contacts, timeperiods, dependencies, ...) are kept and
counted by :meth:`ObjectSet.unsupported`, never dropped here. A syntax error raises one line,
``NagiosObjectError("file:line: what is wrong")``. Templates and inheritance are the
importer's business (``engine.authoring.nagios_import``): this module only reads.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ConfigError

#: Every object type Nagios 4 accepts in a ``define``.
KNOWN_TYPES = frozenset(
    {
        "command",
        "contact",
        "contactgroup",
        "host",
        "hostdependency",
        "hostescalation",
        "hostextinfo",
        "hostgroup",
        "service",
        "servicedependency",
        "serviceescalation",
        "serviceextinfo",
        "servicegroup",
        "timeperiod",
    }
)
#: The types the importer turns into sitelog configuration.
SUPPORTED_TYPES = frozenset({"host", "hostgroup", "service", "servicegroup"})
#: Directives Nagios appends to (comma-joined) when repeated in one definition; any other
#: repeated directive replaces the earlier one, as in Nagios.
_JOINED = frozenset(
    {"members", "hostgroup_members", "servicegroup_members", "contactgroup_members"}
)
#: Main-configuration keys that name object files, and the Nagios default time unit.
_INCLUDES = ("cfg_file", "cfg_dir")
DEFAULT_INTERVAL_LENGTH = 60


class NagiosObjectError(ConfigError):
    """Nagios object definitions could not be read; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class NagiosObject:
    """One ``define`` block as written: its directives before any template is applied."""

    type: str
    directives: Mapping[str, str]
    file: str
    line: int
    #: The line of each directive (the last one when a directive is repeated).
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def get(self, key: str) -> str | None:
        return self.directives.get(key)


@dataclass(frozen=True, slots=True)
class ObjectSet:
    """Every object read, in reading order, with the files read and the time unit."""

    objects: tuple[NagiosObject, ...]
    files: tuple[str, ...] = ()
    #: Seconds in one interval unit (``interval_length`` of the main file, 60 by default).
    interval_length: int = DEFAULT_INTERVAL_LENGTH

    def of_type(self, type_: str) -> tuple[NagiosObject, ...]:
        return tuple(obj for obj in self.objects if obj.type == type_)

    def unsupported(self) -> dict[str, int]:
        """Objects of the types the importer does not take, counted by type."""
        counts = Counter(obj.type for obj in self.objects if obj.type not in SUPPORTED_TYPES)
        return dict(sorted(counts.items()))


def read_objects(paths: Iterable[str | os.PathLike[str]]) -> ObjectSet:
    """Read main configuration files, object files and directories of object files.

    A file is a main configuration when it has no ``define`` and its directives are
    ``key=value`` lines (``nagios.cfg``): its ``cfg_file``/``cfg_dir`` are read, the rest of
    its settings ignored but ``interval_length``.
    """
    reader = _Reader()
    for path in paths:
        reader.read_path(Path(path), named_by=None)
    return ObjectSet(tuple(reader.objects), tuple(reader.files), reader.interval_length)


class _Reader:
    def __init__(self) -> None:
        self.objects: list[NagiosObject] = []
        self.files: list[str] = []
        self.interval_length = DEFAULT_INTERVAL_LENGTH
        self._seen: set[Path] = set()

    def read_path(self, path: Path, named_by: str | None) -> None:
        if path.is_dir():
            self.read_dir(path, named_by)
            return
        text = _read_text(path, named_by)
        if _is_main_config(text):
            self.read_main(path, text)
        else:
            self.read_object_file(path, text, named_by)

    def read_dir(self, path: Path, named_by: str | None) -> None:
        if not path.is_dir():
            raise NagiosObjectError(f"{named_by or path}: {path}: no such directory")
        for entry in sorted(path.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                self.read_dir(entry, named_by)
            elif entry.is_file() and entry.name.endswith(".cfg") and len(entry.name) > 4:
                self.read_object_file(entry, _read_text(entry, named_by), named_by)

    def read_main(self, path: Path, text: str) -> None:
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            key, sep, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if not sep:
                raise NagiosObjectError(f"{path}:{number}: expected key=value, got {line!r}")
            where = f"{path}:{number}"
            if key == "cfg_file":
                self.read_object_file(
                    _relative(path, value), _read_text(_relative(path, value), where), where
                )
            elif key == "cfg_dir":
                self.read_dir(_relative(path, value), where)
            elif key == "interval_length":
                if not value.isdigit() or int(value) <= 0:
                    raise NagiosObjectError(f"{where}: interval_length must be seconds > 0")
                self.interval_length = int(value)

    def read_object_file(self, path: Path, text: str, named_by: str | None) -> None:
        resolved = path.resolve()
        if resolved in self._seen:
            return  # named twice (a cfg_file inside a cfg_dir): read once
        self._seen.add(resolved)
        self.files.append(str(path))
        current: tuple[str, int, dict[str, str], dict[str, int]] | None = None
        for number, line in _logical_lines(text):
            where = f"{path}:{number}"
            if line.startswith("define"):
                type_ = _define_type(line, where)
                if current is not None:
                    raise NagiosObjectError(
                        f"{where}: define inside the definition started on line {current[1]}"
                        " (missing '}')"
                    )
                current = (type_, number, {}, {})
            elif current is not None:
                if line == "}":
                    type_, start, directives, lines = current
                    self.objects.append(NagiosObject(type_, directives, str(path), start, lines))
                    current = None
                    continue
                key, value = _directive(line)
                directives, lines = current[2], current[3]
                if key in _JOINED and directives.get(key):
                    value = f"{directives[key]},{value}" if value else directives[key]
                directives[key], lines[key] = value, number
            elif line.startswith(("include_file=", "include_dir=")):
                key, _, value = line.partition("=")
                target = _relative(path, value.strip())
                if key == "include_dir":
                    self.read_dir(target, where)
                else:
                    self.read_object_file(target, _read_text(target, where), where)
            else:
                raise NagiosObjectError(f"{where}: {line!r} outside a define block")
        if current is not None:
            raise NagiosObjectError(
                f"{path}:{current[1]}: define {current[0]} is never closed (missing '}}')"
            )


def _read_text(path: Path, named_by: str | None) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        prefix = f"{named_by}: " if named_by else ""
        raise NagiosObjectError(f"{prefix}{path}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # older configurations are often written in Latin-1


def _relative(base_file: Path, value: str) -> Path:
    target = Path(value)
    return target if target.is_absolute() else base_file.parent / target


def _is_main_config(text: str) -> bool:
    saw_setting = False
    for _, line in _logical_lines(text):
        if line.startswith("define"):
            return False
        key, sep, _ = line.partition("=")
        if sep and key.strip() not in ("include_file", "include_dir"):
            saw_setting = True
    return saw_setting


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number of its start, content) for each line that is not blank or a comment."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        start, line = index + 1, lines[index]
        index += 1
        while line.endswith("\\") and index < len(lines):  # continued on the next line
            line = line[:-1] + lines[index]
            index += 1
        line = _strip_comment(line).strip()
        if line and line[0] != "#":
            yield start, line


def _strip_comment(line: str) -> str:
    """The line before its first ``;`` that is not escaped as ``\\;`` (Nagios' rule)."""
    position = 0
    while True:
        position = line.find(";", position)
        if position == -1:
            return line
        if position == 0 or line[position - 1] != "\\":
            return line[:position]
        position += 1


def _define_type(line: str, where: str) -> str:
    rest = line[len("define") :]
    if rest and rest[0] not in " \t{":
        raise NagiosObjectError(f"{where}: {line!r} outside a define block")
    rest = rest.lstrip(" \t")
    end = 0
    while end < len(rest) and rest[end] not in " \t{":
        end += 1
    type_, after = rest[:end], rest[end:].strip()
    after = after[1:].strip() if after.startswith("{") else after
    if not type_:
        raise NagiosObjectError(f"{where}: define without an object type")
    if type_ not in KNOWN_TYPES:
        raise NagiosObjectError(f"{where}: unknown object type {type_!r}")
    if after:
        raise NagiosObjectError(
            f"{where}: unexpected {after!r} after 'define {type_} {{' (one directive a line)"
        )
    return type_


def _directive(line: str) -> tuple[str, str]:
    cut = len(line)
    for index, char in enumerate(line):
        if char in " \t":
            cut = index
            break
    return line[:cut], line[cut:].strip().replace("\\;", ";")
