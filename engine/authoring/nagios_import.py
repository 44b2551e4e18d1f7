"""Turning Nagios objects into a :class:`~engine.authoring.declaration.Declaration`.

The objects come from ``engine.authoring.nagios_objects`` as written; this module applies
Nagios 4's rules to them:

* templates are the objects with a ``name``; ``use a,b`` inherits from each in order,
  depth-first, and the first template that sets a directive wins (Nagios' order); a value
  starting with ``+`` on a list directive (``hostgroups``, ``host_name``, ``members``, ...)
  is added to the inherited one; ``null`` unsets an inherited value; ``register 0`` objects
  are templates only and never emitted, and ``register`` itself is not inherited;
* hosts take ``host_name``, ``alias`` and ``address`` (both default to the host name, as in
  Nagios), ``hostgroups``, ``max_check_attempts`` and ``check_interval`` (in units of the
  main file's ``interval_length``, 60 s by default; Nagios' default is 5 units);
* a host group's members are its hosts' ``hostgroups`` plus its ``members`` (``*`` and
  ``!host`` allowed) plus the members of its ``hostgroup_members``;
* a service applies to the hosts of its ``host_name`` list (``*`` for all, ``!host`` to
  leave one out) and to the members of its ``hostgroup_name`` list (``!group`` to leave a
  group's members out); a service named on a host directly wins over one the host gets
  from a group, as in Nagios;
* a service's groups are its ``servicegroups`` plus the service groups whose ``members``
  (``host,service`` pairs) or ``servicegroup_members`` name it.

Every host gets the site and poller given; sites and pollers themselves are not declared
(they are central's already; the declarative file names them). What is not imported is said
in the :class:`ImportReport`: object types, directives that change what is monitored, and the
objects skipped with their ``file:line`` and why. Nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from engine.authoring.declaration import (
    DEFAULT_MAX_CHECK_ATTEMPTS,
    Declaration,
    Group,
    Host,
    Service,
)
from engine.authoring.nagios_objects import NagiosObject, ObjectSet
from schemas.types import MICROS_PER_SECOND


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Directives whose ``+value`` adds to the inherited list (Nagios' additive inheritance).
ADDITIVE = _names(
    "contact_groups contacts host_name hostgroup_members hostgroup_name hostgroups "
    "members parents servicegroup_members servicegroups"
)
#: The directives read, by object type; the others are counted in the report.
READ: Mapping[str, frozenset[str]] = {
    "host": frozenset(
        {"host_name", "alias", "address", "hostgroups", "max_check_attempts", "check_interval"}
    ),
    "service": _names(
        "service_description host_name hostgroup_name servicegroups max_check_attempts"
        " check_interval"
    ),
    "hostgroup": frozenset({"hostgroup_name", "alias", "members", "hostgroup_members"}),
    "servicegroup": frozenset({"servicegroup_name", "alias", "members", "servicegroup_members"}),
}
#: Directives not imported that change what or when Nagios checks and who hears of it: the
#: report counts these (and custom ``_variables``); cosmetic ones (icons, retention flags,
#: flap tuning, ...) are left out of it.
MATTERS = _names(
    "active_checks_enabled check_command check_freshness check_period contact_groups "
    "contacts display_name event_handler first_notification_delay freshness_threshold "
    "initial_state notification_interval notification_options notification_period "
    "notifications_enabled obsess obsess_over_host obsess_over_service parents "
    "passive_checks_enabled retry_interval"
)
#: Directives that only say how an object inherits: never reported as not imported.
_TEMPLATE_KEYS = frozenset({"use", "name", "register"})
_NAME_KEY = {
    "host": "host_name",
    "hostgroup": "hostgroup_name",
    "servicegroup": "servicegroup_name",
    "service": "service_description",
}
_DEFAULT_INTERVAL_UNITS = 5.0


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object (or one host's copy of a service) left out, where it is defined and why."""

    where: str
    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What the import left out: types, directives (``type.key``: objects) and objects."""

    unsupported_types: Mapping[str, int] = field(default_factory=dict)
    unsupported_keys: Mapping[str, int] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()

    def lines(self) -> list[str]:
        out = [f"not imported: {n} {t} object(s)" for t, n in self.unsupported_types.items()]
        out += [f"not imported: {k} on {n} object(s)" for k, n in self.unsupported_keys.items()]
        out += [f"skipped: {s}" for s in self.skipped]
        return out


class _Templates:
    """Effective directives of each object once its templates are applied (memoised)."""

    def __init__(self, objects: ObjectSet, skipped: list[Skipped]) -> None:
        self._by_name: dict[tuple[str, str], NagiosObject] = {}
        for obj in objects.objects:
            name = obj.get("name")
            if name is None:
                continue
            first = self._by_name.setdefault((obj.type, name), obj)
            if first is not obj:
                skipped.append(
                    Skipped(obj.where, f"{obj.type} template {name}", f"duplicate of {first.where}")
                )
        self._done: dict[int, dict[str, str]] = {}

    def resolve(self, obj: NagiosObject, chain: tuple[int, ...] = ()) -> dict[str, str]:
        """Raise ValueError naming a missing or circular template."""
        cached = self._done.get(id(obj))
        if cached is not None:
            return cached
        if id(obj) in chain:
            raise ValueError(f"template {obj.get('name')!r} inherits from itself")
        values = {k: v for k, v in obj.directives.items() if k not in _TEMPLATE_KEYS}
        for name in _split(obj.get("use")):
            template = self._by_name.get((obj.type, name))
            if template is None:
                raise ValueError(f"template {name!r} is not defined")
            for key, inherited in self.resolve(template, (*chain, id(obj))).items():
                own = values.get(key)
                if own is None:
                    values[key] = inherited
                elif key in ADDITIVE and own.startswith("+"):
                    values[key] = own[1:] if inherited == "null" else f"{inherited},{own[1:]}"
        self._done[id(obj)] = values
        return values


def import_objects(objects: ObjectSet, site: str, poller: str) -> tuple[Declaration, ImportReport]:
    """The declaration of the registered hosts, services and groups, and what was left out."""
    skipped: list[Skipped] = []
    templates = _Templates(objects, skipped)
    keys: Counter[str] = Counter()
    registered: dict[str, list[tuple[NagiosObject, dict[str, str]]]] = defaultdict(list)
    for obj in objects.objects:
        if obj.type not in READ or not _registered(obj):
            continue
        try:
            values = templates.resolve(obj)
        except ValueError as err:
            skipped.append(Skipped(obj.where, obj.type, str(err)))
            continue
        values = {k: _final(k, v) for k, v in values.items()}
        for key in values:
            if key not in READ[obj.type] and (key in MATTERS or key.startswith("_")):
                keys[f"{obj.type}.{'_*' if key.startswith('_') else key}"] += 1
        registered[obj.type].append((obj, values))
    builder = _Builder(objects.interval_length, skipped)
    hosts = builder.hosts(registered["host"], registered["hostgroup"])
    services = builder.services(registered["service"], registered["servicegroup"])
    decl = Declaration(
        hostgroups=tuple(builder.hostgroups.values()),
        servicegroups=tuple(builder.servicegroups.values()),
        hosts=tuple(
            replace(h, site=site, poller=poller, services=tuple(services.get(name, ())))
            for name, h in hosts.items()
        ),
    )
    report = ImportReport(objects.unsupported(), dict(sorted(keys.items())), tuple(skipped))
    return decl, report


Entry = tuple[NagiosObject, dict[str, str]]
Resolved = list[Entry]


class _Builder:
    def __init__(self, interval_length: int, skipped: list[Skipped]) -> None:
        self.interval = interval_length * MICROS_PER_SECOND
        self.skipped = skipped
        self.hostgroups: dict[str, Group] = {}
        self.servicegroups: dict[str, Group] = {}
        self.members: dict[str, set[str]] = {}  # host group -> hosts
        self.host_names: set[str] = set()

    def _named(self, type_: str, items: Resolved, into: dict[str, Entry]) -> Resolved:
        """The objects with a name, first definition kept; the others reported."""
        kept: Resolved = []
        where: dict[str, str] = {}
        for obj, values in items:
            name = values.get(_NAME_KEY[type_], "")
            if not name:
                self.skipped.append(Skipped(obj.where, type_, f"no {_NAME_KEY[type_]}"))
            elif name in where:
                self.skipped.append(
                    Skipped(obj.where, f"{type_} {name}", f"duplicate of {where[name]}")
                )
            else:
                where[name] = obj.where
                into[name] = (obj, values)
                kept.append((obj, values))
        return kept

    def _checks(self, values: dict[str, str]) -> tuple[int, int]:
        attempts_text = values.get("max_check_attempts") or str(DEFAULT_MAX_CHECK_ATTEMPTS)
        interval_text = values.get("check_interval") or str(_DEFAULT_INTERVAL_UNITS)
        try:
            attempts, units = int(attempts_text), float(interval_text)
        except ValueError:
            raise ValueError(
                f"max_check_attempts {attempts_text!r} or check_interval {interval_text!r}"
                " is not a number"
            ) from None
        if attempts < 1 or units <= 0:
            raise ValueError("max_check_attempts must be 1 or more, check_interval above 0")
        return attempts, round(units * self.interval)

    def hosts(self, hosts: Resolved, groups: Resolved) -> dict[str, Host]:
        by_name: dict[str, Entry] = {}
        self._named("host", hosts, by_name)
        group_defs: dict[str, Entry] = {}
        for _obj, values in self._named("hostgroup", groups, group_defs):
            name = values["hostgroup_name"]
            self.hostgroups[name] = Group(name, values.get("alias") or name)
        out: dict[str, Host] = {}
        member_of: dict[str, set[str]] = defaultdict(set)
        for name, (obj, values) in sorted(by_name.items()):
            try:
                attempts, interval = self._checks(values)
            except ValueError as err:
                self.skipped.append(Skipped(obj.where, f"host {name}", str(err)))
                continue
            for group in _split(values.get("hostgroups")):
                if group in self.hostgroups:
                    member_of[group].add(name)
                else:
                    self.skipped.append(
                        Skipped(obj.where, f"host {name} in {group}", "host group not defined")
                    )
            out[name] = Host(
                name=name,
                site="",
                alias=values.get("alias") or name,
                address=values.get("address") or name,
                max_check_attempts=attempts,
                check_interval=interval,
            )
        for group, (obj, values) in group_defs.items():
            accepted, rejected = _pick(_split(values.get("members")), set(out))
            for host in sorted(accepted - set(out)):
                self.skipped.append(Skipped(obj.where, f"{group} member {host}", "no such host"))
            member_of[group] |= (accepted & set(out)) - rejected
        self.host_names = set(out)
        for group in self.hostgroups:
            self.members[group] = self._group_members(group, group_defs, member_of, ())
        groups_of: dict[str, set[str]] = defaultdict(set)
        for group, members in self.members.items():
            for host in members:
                groups_of[host].add(group)
        return {n: replace(h, groups=tuple(groups_of[n])) for n, h in out.items()}

    def _group_members(
        self,
        group: str,
        defs: dict[str, Entry],
        direct: dict[str, set[str]],
        chain: tuple[str, ...],
    ) -> set[str]:
        members = set(direct.get(group, ()))
        if group in chain:
            return members  # a loop of hostgroup_members: Nagios refuses it, we stop
        _, values = defs[group]
        for sub in _split(values.get("hostgroup_members")):
            if sub in defs:
                members |= self._group_members(sub, defs, direct, (*chain, group))
        return members

    def services(self, services: Resolved, group_objs: Resolved) -> dict[str, list[Service]]:
        group_defs: dict[str, Entry] = {}
        for _obj, values in self._named("servicegroup", group_objs, group_defs):
            name = values["servicegroup_name"]
            self.servicegroups[name] = Group(name, values.get("alias") or name)
        hosts = self.host_names
        chosen: dict[tuple[str, str], tuple[bool, NagiosObject, int, int, set[str]]] = {}
        for obj, values in services:
            description = values.get("service_description", "")
            if not description:
                self.skipped.append(Skipped(obj.where, "service", "no service_description"))
                continue
            what = f"service {description}"
            try:
                attempts, interval = self._checks(values)
            except ValueError as err:
                self.skipped.append(Skipped(obj.where, what, str(err)))
                continue
            direct, rejected = _pick(_split(values.get("host_name")), hosts)
            via_groups: set[str] = set()
            for token in _split(values.get("hostgroup_name")):
                name = token.removeprefix("!")
                if token == "*":
                    via_groups |= hosts
                elif name not in self.members:
                    self.skipped.append(Skipped(obj.where, what, f"host group {name} not defined"))
                elif token.startswith("!"):
                    rejected |= self.members[name]
                else:
                    via_groups |= self.members[name]
            for host in sorted(direct - hosts):
                self.skipped.append(Skipped(obj.where, f"{what} on {host}", "no such host"))
            targets = ((direct & hosts) | via_groups) - rejected
            if not targets:
                self.skipped.append(Skipped(obj.where, what, "applies to no host"))
            groups: set[str] = set()
            for group in _split(values.get("servicegroups")):
                if group in self.servicegroups:
                    groups.add(group)
                else:
                    self.skipped.append(
                        Skipped(obj.where, what, f"service group {group} not defined")
                    )
            for host in sorted(targets):
                is_direct = host in direct
                earlier = chosen.get((host, description))
                if earlier is None or (is_direct and not earlier[0]):
                    if earlier is not None:
                        self._duplicate(earlier[1], host, description, obj.where)
                    chosen[(host, description)] = (is_direct, obj, attempts, interval, groups)
                else:
                    self._duplicate(obj, host, description, earlier[1].where)
        in_groups = self._service_group_members(group_defs, set(chosen))
        out: dict[str, list[Service]] = defaultdict(list)
        for (host, description), (_, _, attempts, interval, groups) in chosen.items():
            out[host].append(
                Service(
                    host=host,
                    description=description,
                    groups=tuple(groups | in_groups.get((host, description), set())),
                    max_check_attempts=attempts,
                    check_interval=interval,
                )
            )
        return out

    def _duplicate(self, obj: NagiosObject, host: str, description: str, kept: str) -> None:
        what = f"service {description} on {host}"
        self.skipped.append(Skipped(obj.where, what, f"duplicate of {kept}"))

    def _service_group_members(
        self, defs: dict[str, Entry], services: set[tuple[str, str]]
    ) -> dict[tuple[str, str], set[str]]:
        direct: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for group, (obj, values) in defs.items():
            tokens = _split(values.get("members"))
            if len(tokens) % 2:
                self.skipped.append(
                    Skipped(obj.where, f"{group} members", "not host,service pairs")
                )
            for host, description in zip(tokens[::2], tokens[1::2], strict=False):
                if (host, description) in services:
                    direct[group].add((host, description))
                else:
                    what = f"{group} member {host},{description}"
                    self.skipped.append(Skipped(obj.where, what, "no such service"))
        out: dict[tuple[str, str], set[str]] = defaultdict(set)
        for group in defs:
            for member in self._nested(group, defs, direct, ()):
                out[member].add(group)
        return out

    def _nested(
        self,
        group: str,
        defs: dict[str, Entry],
        direct: dict[str, set[tuple[str, str]]],
        chain: tuple[str, ...],
    ) -> set[tuple[str, str]]:
        members = set(direct.get(group, ()))
        if group in chain:
            return members
        _, values = defs[group]
        for sub in _split(values.get("servicegroup_members")):
            if sub in defs:
                members |= self._nested(sub, defs, direct, (*chain, group))
        return members


def _final(key: str, value: str) -> str:
    """A resolved value as used: ``null`` is unset, a ``+`` left with nothing to add drops."""
    if value == "null":
        return ""
    return value.removeprefix("+") if key in ADDITIVE else value


def _registered(obj: NagiosObject) -> bool:
    """Nagios reads ``register`` with atoi: anything but a positive number is 0."""
    value = obj.get("register")
    if value is None:
        return True
    digits = value.strip()
    return digits.isdigit() and int(digits) > 0


def _split(value: str | None) -> list[str]:
    """A Nagios comma list, spaces around the names dropped."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def _pick(tokens: list[str], everything: set[str]) -> tuple[set[str], set[str]]:
    """The names a list accepts (``*`` is every one) and those it leaves out (``!name``)."""
    accepted: set[str] = set()
    rejected: set[str] = set()
    for token in tokens:
        if token == "*":
            accepted |= everything
        elif token.startswith("!"):
            rejected.add(token[1:].strip())
        else:
            accepted.add(token)
    return accepted, rejected
