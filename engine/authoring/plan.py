"""The plan: what to define, change and remove so that central holds a declaration.

:class:`Current` is the configuration central holds now, as the declaration's model,
built from the rows of the ``config_*`` tables (``Current.from_rows``). ``plan`` compares
a declaration with it; :class:`Plan` lists the steps, renders them as a readable diff,
and gives the ``schemas.configuration`` payloads that carry them out, in an order the
fold and the remotes accept.

The rules:

- what is equal is left alone, so a plan made against what an applied plan produced is
  empty (applying twice appends nothing);
- removal happens only within ``prune_sites``: the pollers and hosts of those sites that
  the file does not declare, and the undeclared services of the file's hosts on those
  sites. Another site's configuration is never removed, nor is a site itself;
- a host the file puts on another site than central's is refused (:class:`PlanError`,
  one line per host) unless ``allow_move``. A move removes the host and its services
  from the old site (``target_site`` the old one, so its remote drops them) and defines
  them again on the new one: on central the later definition wins over the removal;
- groups have no events: they travel as names on hosts and services only.

Services whose host is removed on central (rows left behind) are not part of
:class:`Current`: their host's removal already took them out of every view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple

from engine.authoring.declaration import (
    DEFAULT_MAX_CHECK_ATTEMPTS,
    Declaration,
    Host,
    Poller,
    Service,
    Site,
    format_duration,
)
from engine.errors import ConfigError
from projections.rows import HostConfigRow, ServiceConfigRow
from projections.tables import CONFIG_HOSTS, CONFIG_POLLERS, CONFIG_SERVICES, CONFIG_SITES
from schemas.configuration import (
    DEFAULT_CHECK_INTERVAL,
    HostDefined,
    HostRemoved,
    PollerDefined,
    PollerRemoved,
    ServiceDefined,
    ServiceRemoved,
    SiteDefined,
)
from schemas.payload import Payload

__all__ = ["Current", "Plan", "PlanError", "Step", "Targeted", "plan"]

Item = Site | Poller | Host | Service


class PlanError(ConfigError):
    """A declaration cannot be planned as asked (a host moved without ``allow_move``):
    one line per refused item; ``problems`` holds the lines."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class Step(NamedTuple):
    """One planned step: ``before`` is None for a definition, ``after`` for a removal."""

    kind: str  # site, poller, host, service
    name: str  # a service's is host/description
    before: Item | None
    after: Item | None


class Targeted(NamedTuple):
    """A payload and the site whose subset it belongs to (the event's ``target_site``)."""

    target_site: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class Current:
    """The configuration central holds: sites, pollers, hosts with their services."""

    sites: tuple[Site, ...] = ()
    pollers: tuple[Poller, ...] = ()
    hosts: tuple[Host, ...] = ()

    @classmethod
    def from_rows(cls, rows_by_table: Mapping[str, Iterable[Sequence[Any]]]) -> Current:
        """From rows by table name, each in its table's column order (as the projection's
        ``load_registers`` gives them); removed rows are left out."""

        def rows(table: Any) -> list[Any]:
            return [table.row(*r) for r in rows_by_table.get(table.name, ())]

        sites = [Site(r.site_name, r.description) for r in _live(rows(CONFIG_SITES))]
        pollers = [
            Poller(r.poller_name, r.site_name or r.target_site, r.address or "")
            for r in _live(rows(CONFIG_POLLERS))
        ]
        services: dict[str, list[Service]] = {}
        for s in _live(rows(CONFIG_SERVICES)):
            services.setdefault(s.host_name, []).append(_service(s))
        hosts = [_host(r, services.get(r.host_name, ())) for r in _live(rows(CONFIG_HOSTS))]
        decl = Declaration(tuple(sites), tuple(pollers), hosts=tuple(hosts))  # sorts by name
        return cls(decl.sites, decl.pollers, decl.hosts)


def _live(rows: list[Any]) -> list[Any]:
    return [r for r in rows if not r.removed]


def _service(r: ServiceConfigRow) -> Service:
    return Service(
        r.host_name,
        r.service_description,
        tuple(r.groups),
        _attempts(r.max_check_attempts),
        r.check_interval or DEFAULT_CHECK_INTERVAL,
    )


def _host(r: HostConfigRow, services: Iterable[Service]) -> Host:
    return Host(
        r.host_name,
        r.site_name or r.target_site,
        r.poller_name or "",
        r.alias or "",
        r.address or "",
        tuple(r.groups),
        _attempts(r.max_check_attempts),
        r.check_interval or DEFAULT_CHECK_INTERVAL,
        tuple(services),
    )


def _attempts(value: int | None) -> int:
    return DEFAULT_MAX_CHECK_ATTEMPTS if value is None else value


@dataclass(slots=True)
class Plan:
    """The steps that make central hold a declaration, and the payloads that take them."""

    define: list[Step] = field(default_factory=list)
    change: list[Step] = field(default_factory=list)
    remove: list[Step] = field(default_factory=list)
    #: The hosts that change site, by name: (from, to).
    moves: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The site of every host the plan touches, declared or held.
    host_sites: dict[str, str] = field(default_factory=dict)
    #: A moved host's removal from its old site, by host name: its services, then it.
    leaving: dict[str, list[Targeted]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.define or self.change or self.remove)

    def summary(self) -> str:
        return (
            f"{len(self.define)} to define, {len(self.change)} to change, "
            f"{len(self.remove)} to remove"
        )

    def lines(self) -> list[str]:
        """The plan as a diff: ``+`` defined, ``~`` changed (which fields), ``-`` removed."""
        out = []
        for step in self.define:
            site = _site_of(step.after)
            out.append(f"+ {step.kind} {step.name}" + (f" ({site})" if site else ""))
        for step in self.change:
            out.append(f"~ {step.kind} {step.name}: {_differences(step.before, step.after)}")
        out += [f"- {step.kind} {step.name}" for step in self.remove]
        return out

    def targeted(self) -> list[Targeted]:
        """The payloads to append with their target sites, in an order that holds:
        sites, pollers, hosts, services; then removals, services before their hosts and
        hosts before pollers. A moved host's removal from its old site comes first."""
        steps = self.define + self.change
        out: list[Targeted] = []
        for step in steps:
            if isinstance(step.after, Site):
                out.append(Targeted(step.after.name, _defined(step.after)))
        for step in steps:
            if isinstance(step.after, Poller):
                out.append(Targeted(step.after.site, _defined(step.after)))
        for step in steps:
            if isinstance(step.after, Host):
                out += self.leaving.get(step.name, [])
                out.append(Targeted(step.after.site, _defined(step.after)))
        for step in steps:
            if isinstance(step.after, Service):
                out.append(Targeted(self.host_sites[step.after.host], _defined(step.after)))
        for step in self.remove:
            # A moved host's services left its old site with it, above.
            if isinstance(step.before, Service) and step.before.host not in self.moves:
                out.append(Targeted(self.host_sites[step.before.host], _removal(step.before)))
        for step in self.remove:
            if isinstance(step.before, Host):
                out.append(Targeted(step.before.site, HostRemoved(host_name=step.before.name)))
        for step in self.remove:
            if isinstance(step.before, Poller):
                out.append(Targeted(step.before.site, PollerRemoved(poller_name=step.before.name)))
        return out

    def payloads(self) -> list[Payload]:
        """The payloads of :meth:`targeted`, in its order."""
        return [t.payload for t in self.targeted()]


def _site_of(item: Item | None) -> str:
    return item.site if isinstance(item, Poller | Host) else ""


def _shown(name: str, value: object) -> str:
    if name == "check_interval" and isinstance(value, int):
        return format_duration(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return str(value) if value != "" else '""'


def _differences(before: Item | None, after: Item | None) -> str:
    assert before is not None and after is not None
    parts = [
        f"{f.name} {_shown(f.name, getattr(before, f.name))} -> "
        f"{_shown(f.name, getattr(after, f.name))}"
        for f in fields(after)
        if f.name != "services" and getattr(before, f.name) != getattr(after, f.name)
    ]
    return ", ".join(parts)


def _defined(item: Item) -> Payload:
    if isinstance(item, Site):
        return SiteDefined(site_name=item.name, description=item.description)
    if isinstance(item, Poller):
        return PollerDefined(poller_name=item.name, site_name=item.site, address=item.address)
    if isinstance(item, Host):
        return HostDefined(
            host_name=item.name,
            site_name=item.site,
            alias=item.alias,
            address=item.address,
            poller_name=item.poller,
            groups=item.groups,
            max_check_attempts=item.max_check_attempts,
            check_interval=item.check_interval,
        )
    return ServiceDefined(
        host_name=item.host,
        service_description=item.description,
        groups=item.groups,
        max_check_attempts=item.max_check_attempts,
        check_interval=item.check_interval,
    )


def _removal(service: Service) -> ServiceRemoved:
    return ServiceRemoved(host_name=service.host, service_description=service.description)


def _removed_host(host: Host) -> list[Targeted]:
    """A moved host's removal from its old site: its services first, then the host."""
    out = [Targeted(host.site, _removal(s)) for s in host.services]
    return [*out, Targeted(host.site, HostRemoved(host_name=host.name))]


def _bare(host: Host) -> Host:
    """``host`` without its services, to compare its own fields."""
    return replace(host, services=())


def plan(
    decl: Declaration,
    current: Current,
    *,
    prune_sites: Iterable[str] | None = None,
    allow_move: bool = False,
) -> Plan:
    """The steps that make ``current`` hold ``decl``; see the module's rules."""
    pruned = set(prune_sites or ())
    result = Plan()
    old_hosts = _by_name(current.hosts)
    moves = {
        h.name: (old.site, h.site)
        for h in decl.hosts
        if (old := old_hosts.get(h.name)) is not None and old.site != h.site
    }
    if moves and not allow_move:
        raise PlanError(
            [
                f"host {name!r} would move from site {old!r} to site {new!r} "
                "(moving a host must be allowed)"
                for name, (old, new) in sorted(moves.items())
            ]
        )
    result.moves = moves
    result.leaving = {name: _removed_host(old_hosts[name]) for name in moves}
    _compare(result, "site", decl.sites, current.sites, lambda s: False)
    _compare(result, "poller", decl.pollers, current.pollers, lambda p: p.site in pruned)
    for host in decl.hosts:
        old = old_hosts.get(host.name)
        if old is None:
            result.define.append(Step("host", host.name, None, _bare(host)))
        elif _bare(old) != _bare(host):
            result.change.append(Step("host", host.name, _bare(old), _bare(host)))
    for host in decl.hosts:
        old = old_hosts.get(host.name)
        # A moved host's services are all defined again: they leave the old site with it.
        was = () if old is None or host.name in moves else old.services
        if old is not None and host.name in moves:
            kept = {s.description for s in host.services}
            result.remove += [
                Step("service", f"{s.host}/{s.description}", s, None)
                for s in old.services
                if s.description not in kept
            ]
        _compare(
            result,
            "service",
            host.services,
            was,
            lambda s, site=host.site: site in pruned,
            name=lambda s: f"{s.host}/{s.description}",
            key=lambda s: s.description,
        )
    declared = {h.name for h in decl.hosts}
    for old in current.hosts:
        if old.name not in declared and old.site in pruned:
            result.remove += [
                Step("service", f"{s.host}/{s.description}", s, None) for s in old.services
            ]
            result.remove.append(Step("host", old.name, _bare(old), None))
    result.host_sites = {h.name: h.site for h in current.hosts} | {
        h.name: h.site for h in decl.hosts
    }
    # Removals in the order they are listed: services, hosts, pollers.
    order = {"service": 0, "host": 1, "poller": 2}
    result.remove.sort(key=lambda s: order[s.kind])
    return result


def _by_name(items: Iterable[Host]) -> dict[str, Host]:
    return {i.name: i for i in items}


def _compare(
    result: Plan,
    kind: str,
    wanted: Iterable[Any],
    held: Iterable[Any],
    prunable: Any,
    *,
    name: Any = lambda i: i.name,
    key: Any = lambda i: i.name,
) -> None:
    """Define what is only wanted, change what differs, remove what is only held and
    ``prunable``."""
    held_by = {key(i): i for i in held}
    wanted_keys = set()
    for item in wanted:
        wanted_keys.add(key(item))
        old = held_by.get(key(item))
        if old is None:
            result.define.append(Step(kind, name(item), None, item))
        elif old != item:
            result.change.append(Step(kind, name(item), old, item))
    for k, old in held_by.items():
        if k not in wanted_keys and prunable(old):
            result.remove.append(Step(kind, name(old), old, None))
