"""Whether a declaration's names refer to each other properly, before anything is planned.

``validate`` returns one line per problem, empty when the declaration is valid; it never
raises. The rules, and the choices made where the issue leaves them open:

- every name is non-empty, and a declared site's name is a valid site name (it becomes
  the ``target_site`` of events: ``schemas.types.check_site_name``);
- a host's or a poller's site is declared in the file or known to central already
  (``known_sites``): a file may describe one site's hosts without redeclaring the site;
- a host's poller, when it names one, is declared in the file and on the host's site;
- a group a host or a service names is declared in the file's ``hostgroups`` or
  ``servicegroups``, as Nagios refuses an undefined group. Groups reach central only as
  names on hosts and services (no event defines a group), so only the file can say which
  exist;
- two hosts whose names differ only by case, or two services of one host whose
  descriptions differ only by case, are refused: TOML keeps them apart, but Centreon's
  databases compare names case-insensitively and an operator reading them would not tell
  them apart either;
- a service names the host it is declared under (a declaration built in code could
  disagree; a loaded one cannot);
- ``max_check_attempts`` is at least 1 and ``check_interval`` positive (the loader
  checks both; a declaration built in code, as an import's, is checked here).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from engine.authoring.declaration import Declaration, Poller, key_path
from schemas.errors import InvalidEventError
from schemas.types import check_site_name

__all__ = ["validate"]


def _case_duplicates(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs (first, other) of names equal but for case, in the order given."""
    seen: dict[str, str] = {}
    found = []
    for name in names:
        first = seen.setdefault(name.casefold(), name)
        if first != name:
            found.append((first, name))
    return found


def validate(decl: Declaration, known_sites: Collection[str] = frozenset()) -> list[str]:
    """The problems of ``decl``, one line each naming the key path; empty when valid.

    ``known_sites`` are the sites central holds already (a file may use them undeclared)."""
    problems: list[str] = []
    declared_sites = {s.name for s in decl.sites}
    sites = declared_sites | set(known_sites)
    pollers: dict[str, Poller] = {p.name: p for p in decl.pollers}
    hostgroups = {g.name for g in decl.hostgroups}
    servicegroups = {g.name for g in decl.servicegroups}

    for site in decl.sites:
        try:
            check_site_name(site.name)
        except InvalidEventError as err:
            problems.append(f"{key_path('sites', site.name)}: {err}")
    for kind, named in (
        ("pollers", decl.pollers),
        ("hostgroups", decl.hostgroups),
        ("servicegroups", decl.servicegroups),
        ("hosts", decl.hosts),
    ):
        problems += [f"{key_path(kind, i.name)}: empty name" for i in named if not i.name]
    for poller in decl.pollers:
        if poller.site not in sites:
            problems.append(
                f"{key_path('pollers', poller.name, 'site')}: unknown site {poller.site!r}"
            )
    for first, other in _case_duplicates(h.name for h in decl.hosts):
        problems.append(f"{key_path('hosts', other)}: the same name as host {first!r} but for case")

    for host in decl.hosts:
        where = ("hosts", host.name)
        if host.site not in sites:
            problems.append(f"{key_path(*where, 'site')}: unknown site {host.site!r}")
        if host.poller:
            served_by = pollers.get(host.poller)
            if served_by is None:
                problems.append(f"{key_path(*where, 'poller')}: undeclared poller {host.poller!r}")
            elif served_by.site != host.site:
                problems.append(
                    f"{key_path(*where, 'poller')}: poller {host.poller!r} is on site "
                    f"{served_by.site!r}, the host on {host.site!r}"
                )
        problems += _checks(
            where, host.groups, hostgroups, "host", host.max_check_attempts, host.check_interval
        )
        for first, other in _case_duplicates(s.description for s in host.services):
            problems.append(
                f"{key_path(*where, 'services', other)}: the same description as service "
                f"{first!r} but for case"
            )
        for service in host.services:
            at = (*where, "services", service.description)
            if not service.description:
                problems.append(f"{key_path(*at)}: empty description")
            if service.host != host.name:
                problems.append(f"{key_path(*at)}: names host {service.host!r}, not its own")
            problems += _checks(
                at,
                service.groups,
                servicegroups,
                "service",
                service.max_check_attempts,
                service.check_interval,
            )
    return problems


def _checks(
    where: tuple[str, ...],
    groups: tuple[str, ...],
    declared: set[str],
    kind: str,
    attempts: int,
    interval: int,
) -> list[str]:
    """The problems of the fields hosts and services share: groups, attempts, interval."""
    problems = [
        f"{key_path(*where, 'groups')}: undeclared {kind} group {g!r}"
        for g in groups
        if g not in declared
    ]
    if attempts < 1:
        problems.append(f"{key_path(*where, 'max_check_attempts')}: must be >= 1, got {attempts}")
    if interval <= 0:
        problems.append(f"{key_path(*where, 'check_interval')}: must be positive, got {interval}")
    return problems
