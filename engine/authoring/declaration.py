"""The declarative configuration file: its model, reading it (TOML) and writing it back.

The file describes the configuration central should hold: sites, pollers, host and
service groups, hosts and their services, each service under its host
(``[hosts.web-01.services.HTTP]``). Pools stay out of this first version.

Reading checks the file's shape only: unknown keys, wrong types, bad durations, a
missing required ``site``. Each bad field is one line naming the file and the key path
(``paris.toml: hosts.web-01.check_interval: ...``), all of them gathered in one
:class:`DeclarationError`. Whether the names refer to each other properly is
``engine.authoring.validation``'s.

``check_interval`` is held in the payload's unit (microseconds, as
``schemas.configuration.DEFAULT_CHECK_INTERVAL``); the file writes a duration
(``"90s"``, ``"5m"``, ``"1h"``, also ``"ms"``/``"us"``/``"d"``) or an integer of seconds.
The model is canonical: every tuple is sorted by name and groups are sorted and
unique, so two declarations of the same configuration are equal whatever the order of
the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from schemas.configuration import DEFAULT_CHECK_INTERVAL, HostDefined
from schemas.types import MICROS_PER_SECOND

__all__ = [
    "DEFAULT_MAX_CHECK_ATTEMPTS",
    "Declaration",
    "DeclarationError",
    "Group",
    "Host",
    "Poller",
    "Service",
    "Site",
    "dump_declaration",
    "format_duration",
    "key_path",
    "load_declaration",
    "parse_declaration",
    "parse_duration",
]

#: HostDefined's own default (the payload is the reference, so it is read from it).
DEFAULT_MAX_CHECK_ATTEMPTS: int = HostDefined(host_name="", site_name="").max_check_attempts


class DeclarationError(ConfigError):
    """A declarative file is not well formed: one line per bad field, each naming the file
    and the key path. ``problems`` holds the lines; ``str()`` joins them."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def _sorted_unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names)))


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Poller:
    name: str
    site: str
    address: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    """A host or service group. No event carries groups: they are checked, not appended."""

    name: str
    alias: str = ""


@dataclass(frozen=True, slots=True)
class Service:
    host: str
    description: str
    groups: tuple[str, ...] = ()
    max_check_attempts: int = DEFAULT_MAX_CHECK_ATTEMPTS
    check_interval: int = DEFAULT_CHECK_INTERVAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", _sorted_unique(self.groups))


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    site: str
    poller: str = ""
    alias: str = ""
    address: str = ""
    groups: tuple[str, ...] = ()
    max_check_attempts: int = DEFAULT_MAX_CHECK_ATTEMPTS
    check_interval: int = DEFAULT_CHECK_INTERVAL
    services: tuple[Service, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", _sorted_unique(self.groups))
        object.__setattr__(
            self, "services", tuple(sorted(self.services, key=lambda s: s.description))
        )


@dataclass(frozen=True, slots=True)
class Declaration:
    sites: tuple[Site, ...] = ()
    pollers: tuple[Poller, ...] = ()
    hostgroups: tuple[Group, ...] = ()
    servicegroups: tuple[Group, ...] = ()
    hosts: tuple[Host, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("sites", "pollers", "hostgroups", "servicegroups", "hosts"):
            items = getattr(self, name)
            object.__setattr__(self, name, tuple(sorted(items, key=lambda i: i.name)))


# Durations -------------------------------------------------------------------------

_UNITS = {
    "d": 86_400 * MICROS_PER_SECOND,
    "h": 3_600 * MICROS_PER_SECOND,
    "m": 60 * MICROS_PER_SECOND,
    "s": MICROS_PER_SECOND,
    "ms": 1_000,
    "us": 1,
}
_DURATION = re.compile(r"([0-9]+)(d|h|m|s|ms|us)")


def parse_duration(value: object) -> int:
    """A positive duration of the file (``"5m"`` or an integer of seconds) in microseconds.

    Raises ValueError with the reason, for the caller to name the key."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f'expected a duration such as "5m" or seconds, got {_kind(value)}')
    if isinstance(value, int):
        micros = value * MICROS_PER_SECOND
    else:
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise ValueError(
                f"bad duration {value!r}: use a whole number and a unit (us ms s m h d), "
                'as "90s" or "5m"'
            )
        micros = int(match[1]) * _UNITS[match[2]]
    if micros <= 0:
        raise ValueError(f"the duration must be positive, got {value!r}")
    return micros


def format_duration(micros: int) -> str:
    """``micros`` in the largest unit that holds it exactly (300 s -> ``"5m"``)."""
    for unit, size in _UNITS.items():
        if micros % size == 0:
            return f"{micros // size}{unit}"
    raise AssertionError("every integer is a whole number of microseconds")


# Reading -----------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
_ESCAPES["\r"] = "\\r"


def _quote(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _quote(name)


def key_path(*names: str) -> str:
    """A dotted TOML key path, each part quoted when it must be: ``hosts."web 01".site``."""
    return ".".join(_key(n) for n in names)


def _kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    kinds |= {list: "an array", dict: "a table"}
    return kinds.get(type(value), f"a {type(value).__name__}")


class _Reader:
    """Gathers one line per bad field while the file's tables are turned into the model."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[str] = []

    def bad(self, where: tuple[str, ...], what: str) -> None:
        self.problems.append(f"{self.path}: {key_path(*where)}: {what}")

    def table(self, value: object, where: tuple[str, ...]) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.bad(where, f"expected a table, got {_kind(value)}")
        return {}

    def fields(
        self, value: object, where: tuple[str, ...], allowed: Iterable[str]
    ) -> dict[str, Any]:
        table = self.table(value, where)
        for key in table:
            if key not in allowed:
                self.bad((*where, key), f"unknown key (expected one of {', '.join(allowed)})")
        return table

    def text(self, table: Mapping[str, Any], where: tuple[str, ...], key: str) -> str:
        value = table.get(key, "")
        if isinstance(value, str):
            return value
        self.bad((*where, key), f"expected a string, got {_kind(value)}")
        return ""

    def required(self, table: Mapping[str, Any], where: tuple[str, ...], key: str) -> str:
        if key not in table:
            self.bad((*where, key), "missing (required)")
            return ""
        return self.text(table, where, key)

    def names(self, table: Mapping[str, Any], where: tuple[str, ...], key: str) -> list[str]:
        value = table.get(key, [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        self.bad((*where, key), f"expected an array of strings, got {_kind(value)}")
        return []

    def attempts(self, table: Mapping[str, Any], where: tuple[str, ...]) -> int:
        value = table.get("max_check_attempts", DEFAULT_MAX_CHECK_ATTEMPTS)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        self.bad((*where, "max_check_attempts"), f"expected an integer >= 1, got {value!r}")
        return DEFAULT_MAX_CHECK_ATTEMPTS

    def interval(self, table: Mapping[str, Any], where: tuple[str, ...]) -> int:
        if "check_interval" not in table:
            return DEFAULT_CHECK_INTERVAL
        try:
            return parse_duration(table["check_interval"])
        except ValueError as err:
            self.bad((*where, "check_interval"), str(err))
            return DEFAULT_CHECK_INTERVAL


_TOP = ("sites", "pollers", "hostgroups", "servicegroups", "hosts")
_HOST_KEYS = (
    "site",
    "poller",
    "alias",
    "address",
    "groups",
    "max_check_attempts",
    "check_interval",
    "services",
)
_SERVICE_KEYS = ("groups", "max_check_attempts", "check_interval")


def _service(r: _Reader, host: str, description: str, value: object) -> Service:
    where = ("hosts", host, "services", description)
    t = r.fields(value, where, _SERVICE_KEYS)
    return Service(
        host,
        description,
        tuple(r.names(t, where, "groups")),
        r.attempts(t, where),
        r.interval(t, where),
    )


def _host(r: _Reader, name: str, value: object) -> Host:
    where = ("hosts", name)
    t = r.fields(value, where, _HOST_KEYS)
    services = r.table(t.get("services", {}), (*where, "services"))
    return Host(
        name,
        r.required(t, where, "site"),
        r.text(t, where, "poller"),
        r.text(t, where, "alias"),
        r.text(t, where, "address"),
        tuple(r.names(t, where, "groups")),
        r.attempts(t, where),
        r.interval(t, where),
        tuple(_service(r, name, d, s) for d, s in services.items()),
    )


def parse_declaration(document: Mapping[str, Any], path: str) -> Declaration:
    """The model of an already parsed TOML ``document``; ``path`` names it in the errors."""
    r = _Reader(path)
    for key in document:
        if key not in _TOP:
            r.bad((key,), f"unknown key (expected one of {', '.join(_TOP)})")

    def section(name: str) -> dict[str, Any]:
        return r.table(document.get(name, {}), (name,))

    sites = []
    for n, v in section("sites").items():
        t = r.fields(v, ("sites", n), ("description",))
        sites.append(Site(n, r.text(t, ("sites", n), "description")))
    pollers = []
    for n, v in section("pollers").items():
        t = r.fields(v, ("pollers", n), ("site", "address"))
        pollers.append(
            Poller(n, r.required(t, ("pollers", n), "site"), r.text(t, ("pollers", n), "address"))
        )
    groups: dict[str, list[Group]] = {"hostgroups": [], "servicegroups": []}
    for kind, found in groups.items():
        for n, v in section(kind).items():
            t = r.fields(v, (kind, n), ("alias",))
            found.append(Group(n, r.text(t, (kind, n), "alias")))
    hosts = [_host(r, n, v) for n, v in section("hosts").items()]
    if r.problems:
        raise DeclarationError(r.problems)
    return Declaration(
        tuple(sites),
        tuple(pollers),
        tuple(groups["hostgroups"]),
        tuple(groups["servicegroups"]),
        tuple(hosts),
    )


def load_declaration(path: str | Path) -> Declaration:
    """Read the declarative file at ``path``; a :class:`DeclarationError` if it is not well
    formed (unreadable, not TOML, or bad fields: one line each)."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as err:
        raise DeclarationError([f"{path}: cannot read: {err.strerror or err}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise DeclarationError([f"{path}: not TOML: {err}"]) from None
    except UnicodeDecodeError as err:
        raise DeclarationError([f"{path}: not UTF-8 text: {err.reason}"]) from None
    return parse_declaration(document, str(path))


# Writing -----------------------------------------------------------------------------


def _line(key: str, value: str | int | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        rendered = "[" + ", ".join(_quote(v) for v in value) + "]"
    elif isinstance(value, int):
        rendered = str(value)
    else:
        rendered = _quote(value)
    return f"{key} = {rendered}"


def _checks(groups: tuple[str, ...], attempts: int, interval: int) -> list[str]:
    """The fields hosts and services share, each written only when not the default."""
    lines = [_line("groups", groups)] if groups else []
    if attempts != DEFAULT_MAX_CHECK_ATTEMPTS:
        lines.append(_line("max_check_attempts", attempts))
    if interval != DEFAULT_CHECK_INTERVAL:
        lines.append(_line("check_interval", format_duration(interval)))
    return lines


def dump_declaration(decl: Declaration) -> str:
    """``decl`` as the TOML text of a declarative file; loading it gives ``decl`` back.

    Fields at their default are left out, so an imported file stays short."""
    blocks: list[list[str]] = []
    for site in decl.sites:
        body = [_line("description", site.description)] if site.description else []
        blocks.append([f"[{key_path('sites', site.name)}]", *body])
    for poller in decl.pollers:
        body = [_line("site", poller.site)]
        body += [_line("address", poller.address)] if poller.address else []
        blocks.append([f"[{key_path('pollers', poller.name)}]", *body])
    for kind, groups in (("hostgroups", decl.hostgroups), ("servicegroups", decl.servicegroups)):
        for group in groups:
            body = [_line("alias", group.alias)] if group.alias else []
            blocks.append([f"[{key_path(kind, group.name)}]", *body])
    for host in decl.hosts:
        body = [_line("site", host.site)]
        for key in ("poller", "alias", "address"):
            if getattr(host, key):
                body.append(_line(key, getattr(host, key)))
        body += _checks(host.groups, host.max_check_attempts, host.check_interval)
        blocks.append([f"[{key_path('hosts', host.name)}]", *body])
        for service in host.services:
            header = f"[{key_path('hosts', host.name, 'services', service.description)}]"
            checks = _checks(service.groups, service.max_check_attempts, service.check_interval)
            blocks.append([header, *checks])
    return "\n\n".join("\n".join(block) for block in blocks) + ("\n" if blocks else "")
