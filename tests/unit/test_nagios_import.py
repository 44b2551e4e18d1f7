"""Nagios objects to a Declaration: templates, expansion, groups, and what the report says.

Checked against the real Nagios 4 on Debian's sample configuration, against a generated
configuration of 10,000 services, and (hypothesis) against a straightforward model of
Nagios' rules on small random configurations.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.authoring.declaration import Declaration, Host
from engine.authoring.nagios_import import import_objects
from engine.authoring.nagios_objects import read_objects
from tests.support.nagios_engine import nagios_binary
from tests.support.nagios_objects import MINUTE, write_configuration
from tests.support.services import unavailable

DEBIAN_MAIN = Path("/etc/nagios4/nagios.cfg")


def imported(tmp_path: Path, text: str) -> tuple[Declaration, list[str]]:
    cfg = tmp_path / "objects.cfg"
    cfg.write_text(text)
    decl, report = import_objects(read_objects([cfg]), "paris", "poller-1")
    return decl, report.lines()


def services_of(decl: Declaration) -> dict[tuple[str, str], tuple[int, int, tuple[str, ...]]]:
    return {
        (s.host, s.description): (s.max_check_attempts, s.check_interval, s.groups)
        for h in decl.hosts
        for s in h.services
    }


def nagios_counts(main: Path, *, clean: bool) -> dict[str, int]:
    """What ``nagios4 -v`` counts: services, hosts, host groups, service groups."""
    binary = nagios_binary()
    if binary is None:
        unavailable("Nagios 4", "nagios4 is not installed (tests/support/install_debian.sh)")
    assert binary is not None
    verified = subprocess.run(
        [binary, "-v", str(main)], capture_output=True, text=True, timeout=120
    )
    assert "Read object config files okay" in verified.stdout, verified.stdout[-2000:]
    assert verified.returncode == 0 or not clean, verified.stdout[-2000:]
    found = re.findall(
        r"Checked (\d+) (services|hosts|host groups|service groups)\.", verified.stdout
    )
    return {what: int(n) for n, what in found}


def counts(decl: Declaration) -> dict[str, int]:
    return {
        "services": sum(len(h.services) for h in decl.hosts),
        "hosts": len(decl.hosts),
        "host groups": len(decl.hostgroups),
        "service groups": len(decl.servicegroups),
    }


def test_debian_sample_equals_what_nagios_counts() -> None:
    if not DEBIAN_MAIN.exists():
        unavailable("Nagios 4", f"{DEBIAN_MAIN} is missing (tests/support/install_debian.sh)")
    counted = nagios_counts(DEBIAN_MAIN, clean=True)
    decl, report = import_objects(read_objects([DEBIAN_MAIN]), "paris", "poller-1")
    mine = counts(decl)
    assert mine == counted
    (localhost,) = [h for h in decl.hosts if h.name == "localhost"]
    assert (localhost.site, localhost.poller, localhost.address) == (
        "paris",
        "poller-1",
        "127.0.0.1",
    )
    assert localhost.groups == ("linux-servers",)
    assert (localhost.max_check_attempts, localhost.check_interval) == (
        10,
        5 * MINUTE,
    )  # linux-server
    by_name = {s.description: s for s in localhost.services}
    assert {"PING", "Root Partition", "Current Users", "SSH", "HTTP", "Swap Usage"} <= set(by_name)
    # local-service sets 4 attempts and 5 minutes over generic-service's 3 and 10
    assert (by_name["PING"].max_check_attempts, by_name["PING"].check_interval) == (4, 5 * MINUTE)
    assert report.unsupported_types["command"] >= 1 and "timeperiod" in report.unsupported_types
    assert report.unsupported_keys["service.check_command"] == mine["services"]
    assert not report.skipped


def test_generated_ten_thousand_services(tmp_path: Path) -> None:
    main, expected = write_configuration(tmp_path, hosts=500)
    started = time.perf_counter()
    objects = read_objects([main])
    read = time.perf_counter()
    decl, report = import_objects(objects, "paris", "poller-1")
    done = time.perf_counter()
    services = services_of(decl)
    print(
        f"\n{len(services)} services, {len(decl.hosts)} hosts: read {read - started:.2f}s,"
        f" import {done - read:.2f}s"
    )
    assert len(services) >= 10_000
    assert services == expected.services
    assert {
        h.name: (h.groups, h.max_check_attempts, h.check_interval, h.address) for h in decl.hosts
    } == expected.hosts
    assert tuple(g.name for g in decl.hostgroups) == expected.hostgroups
    assert tuple(g.name for g in decl.servicegroups) == expected.servicegroups
    assert decl.servicegroups[0].alias == "Core; generated"
    assert report.unsupported_types == {"command": 1} and not report.skipped


def test_generated_configuration_counts_as_nagios_counts(tmp_path: Path) -> None:
    """Nagios itself reads the generated files alike (it only objects to there being no
    contacts, which the import does not take)."""
    main, _ = write_configuration(tmp_path, hosts=100)
    decl, _ = import_objects(read_objects([main]), "paris", "poller-1")
    assert counts(decl) == nagios_counts(main, clean=False)


def test_first_template_wins_depth_first_and_register_0_is_not_emitted(tmp_path: Path) -> None:
    decl, lines = imported(
        tmp_path,
        """
define host {
  name        top
  max_check_attempts 7
  check_interval 9
  alias       from-top
  register    0
}
define host {
  name        left
  use         top
  register    0
}
define host {
  name        right
  max_check_attempts 2
  check_interval 4
  address     10.9.9.9
  register    0
}
define host {
  use         left, right
  host_name   web
  check_interval 0.5
}
define host {
  name        also-a-template   ; a named object without register 0 is a host too
  host_name   db
  use         right
  alias       null
}
""",
    )
    web, db = sorted(decl.hosts, key=lambda h: h.name, reverse=True)
    # left's chain (left, then top) comes before right: top's 7 beats right's 2
    assert (web.max_check_attempts, web.check_interval, web.alias) == (7, 30_000_000, "from-top")
    assert web.address == "10.9.9.9"  # only right has one
    assert (db.name, db.max_check_attempts, db.alias, db.address) == ("db", 2, "db", "10.9.9.9")
    assert [h.name for h in decl.hosts] == ["db", "web"]
    assert lines == []


def test_additive_groups_exclusions_and_hostgroup_members(tmp_path: Path) -> None:
    decl, lines = imported(
        tmp_path,
        """
define host {
  name t
  hostgroups base
  register 0
}
define host {
  use t
  host_name a
  hostgroups +extra
}
define host {
  use t
  host_name b
  hostgroups extra   ; replaces, not adds
}
define host {
  host_name c
}
define hostgroup {
  hostgroup_name base
}
define hostgroup {
  hostgroup_name extra
  alias Extra hosts
}
define hostgroup {
  hostgroup_name all-but-b
  members *, !b
}
define hostgroup {
  hostgroup_name parent
  hostgroup_members extra
}
define servicegroup {
  servicegroup_name web
  members c,HTTP
}
define service {
  hostgroup_name parent, !base
  service_description HTTP
}
define service {
  host_name *, !a
  hostgroup_name all-but-b
  service_description SSH
  servicegroups web
}
define service {
  host_name c
  service_description HTTP
  max_check_attempts 9
}
""",
    )
    hosts = {h.name: h for h in decl.hosts}
    assert hosts["a"].groups == ("all-but-b", "base", "extra", "parent")
    assert hosts["b"].groups == ("extra", "parent")
    assert hosts["c"].groups == ("all-but-b",)
    assert [(g.name, g.alias) for g in decl.hostgroups][2] == ("extra", "Extra hosts")
    assert set(services_of(decl)) == {("b", "HTTP"), ("c", "HTTP"), ("b", "SSH"), ("c", "SSH")}
    http_c = services_of(decl)[("c", "HTTP")]
    assert http_c == (9, 5 * MINUTE, ("web",))  # servicegroup members name it
    assert services_of(decl)[("b", "SSH")][2] == ("web",)
    assert lines == []


def test_what_is_left_out_is_reported_with_file_and_line(tmp_path: Path) -> None:
    decl, lines = imported(
        tmp_path,
        """define host {
  host_name a
  use missing
}
define host {
  host_name b
  hostgroups nowhere
  parents a
  _SNMP public
}
define host {
  host_name b
}
define service {
  host_name b, ghost
  service_description PING
  check_command check_ping
}
define service {
  service_description lonely
}
define command {
  command_name x
}
define timeperiod {
  timeperiod_name y
}
""",
    )
    cfg = tmp_path / "objects.cfg"
    assert [h.name for h in decl.hosts] == ["b"]
    assert f"skipped: {cfg}:1: host: template 'missing' is not defined" in lines
    assert f"skipped: {cfg}:11: host b: duplicate of {cfg}:5" in lines
    assert f"skipped: {cfg}:5: host b in nowhere: host group not defined" in lines
    assert f"skipped: {cfg}:14: service PING on ghost: no such host" in lines
    assert f"skipped: {cfg}:19: service lonely: applies to no host" in lines
    assert "not imported: 1 command object(s)" in lines
    assert "not imported: 1 timeperiod object(s)" in lines
    assert "not imported: host.parents on 1 object(s)" in lines
    assert "not imported: host._* on 1 object(s)" in lines
    assert "not imported: service.check_command on 1 object(s)" in lines


# The model: Nagios' rules written out plainly on the structure, not on the text -------------


@dataclass
class Def:
    use: list[int]  # templates by index
    attempts: int | None
    interval: int | None
    groups: str | None  # a servicegroups value, maybe "+..."


@dataclass
class ServiceDef:
    base: Def
    description: str
    hosts: list[str]  # host_name tokens
    hostgroups: list[str]  # hostgroup_name tokens


def _linear(defs: list[Def], own: Def) -> list[Def]:
    """Nagios' lookup order: the object, then each template's own order, depth-first."""
    order = [own]
    for index in own.use:
        order += _linear(defs, defs[index])
    return order


def _effective(defs: list[Def], own: Def) -> tuple[int, int, set[str]]:
    order = _linear(defs, own)
    attempts = next((d.attempts for d in order if d.attempts is not None), 3)
    interval = next((d.interval for d in order if d.interval is not None), 5)
    groups: list[str] = []
    for d in order:  # "+x" values add up until one without "+"
        if d.groups is None:
            continue
        groups += d.groups.removeprefix("+").split(",")
        if not d.groups.startswith("+"):
            break
    return attempts, interval * MINUTE, {g for g in groups if g}


HOSTS = [f"h{i}" for i in range(5)]
GROUP_MEMBERS = {"g0": ["h0", "h1"], "g1": ["h1", "h2", "h3"], "g2": []}
_groups_value = st.builds(
    lambda plus, names: ("+" if plus else "") + ",".join(names),
    st.booleans(),
    st.lists(st.sampled_from(["s0", "s1"]), min_size=1, max_size=2),
)


@st.composite
def configurations(draw: st.DrawFn) -> tuple[list[Def], list[ServiceDef]]:
    templates: list[Def] = []
    for i in range(draw(st.integers(0, 4))):
        templates.append(
            Def(
                use=draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else [],
                attempts=draw(st.none() | st.integers(1, 9)),
                interval=draw(st.none() | st.integers(1, 9)),
                groups=draw(st.none() | _groups_value),
            )
        )
    uses = (
        st.lists(st.integers(0, len(templates) - 1), max_size=2, unique=True)
        if templates
        else st.just([])
    )
    host_tokens = st.sampled_from([*HOSTS, "*", "!h0", "!h1", "!h4"])
    services = draw(
        st.lists(
            st.builds(
                ServiceDef,
                st.builds(
                    Def,
                    uses,
                    st.none() | st.integers(1, 9),
                    st.none() | st.integers(1, 9),
                    st.none() | _groups_value,
                ),
                st.sampled_from(["PING", "HTTP", "SSH"]),
                st.lists(host_tokens, max_size=3),
                st.lists(st.sampled_from(["g0", "g1", "g2", "!g0", "!g1"]), max_size=2),
            ),
            max_size=6,
        )
    )
    return templates, services


def _text(templates: list[Def], services: list[ServiceDef]) -> str:
    def body(d: Def) -> str:
        lines = [f"  use {','.join(f't{i}' for i in d.use)}"] if d.use else []
        lines += [f"  max_check_attempts {d.attempts}"] if d.attempts is not None else []
        lines += [f"  check_interval {d.interval}"] if d.interval is not None else []
        lines += [f"  servicegroups {d.groups}"] if d.groups is not None else []
        return "\n".join(lines)

    out = [f"define host {{\n  host_name {h}\n}}" for h in HOSTS]
    out += [
        f"define hostgroup {{\n  hostgroup_name {g}\n  members {','.join(m)}\n}}"
        for g, m in GROUP_MEMBERS.items()
    ]
    out += [f"define servicegroup {{\n  servicegroup_name {g}\n}}" for g in ("s0", "s1")]
    out += [
        f"define service {{\n  name t{i}\n  register 0\n{body(t)}\n}}"
        for i, t in enumerate(templates)
    ]
    for s in services:
        lines = [body(s.base), f"  service_description {s.description}"]
        lines += [f"  host_name {','.join(s.hosts)}"] if s.hosts else []
        lines += [f"  hostgroup_name {','.join(s.hostgroups)}"] if s.hostgroups else []
        out.append("define service {\n" + "\n".join(line for line in lines if line) + "\n}")
    return "\n".join(out) + "\n"


def _model(
    templates: list[Def], services: list[ServiceDef]
) -> dict[tuple[str, str], tuple[int, int, tuple[str, ...]]]:
    chosen: dict[tuple[str, str], tuple[bool, tuple[int, int, tuple[str, ...]]]] = {}
    for s in services:
        named = set(HOSTS) if "*" in s.hosts else set()
        named |= {t for t in s.hosts if not t.startswith("!") and t != "*"}
        left_out = {t[1:] for t in s.hosts if t.startswith("!")}
        from_groups: set[str] = set()
        for token in s.hostgroups:
            if token.startswith("!"):
                left_out |= set(GROUP_MEMBERS[token[1:]])
            else:
                from_groups |= set(GROUP_MEMBERS[token])
        attempts, interval, groups = _effective(templates, s.base)
        for host in (named | from_groups) - left_out:
            key, direct = (host, s.description), host in named
            if key not in chosen or (direct and not chosen[key][0]):
                chosen[key] = (direct, (attempts, interval, tuple(sorted(groups))))
    return {key: value for key, (_, value) in chosen.items()}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(configurations())
def test_expansion_equals_the_model(
    tmp_path: Path, config: tuple[list[Def], list[ServiceDef]]
) -> None:
    templates, services = config
    decl, _ = imported(tmp_path, _text(templates, services))
    assert services_of(decl) == _model(templates, services)
    assert all(isinstance(h, Host) and h.site == "paris" for h in decl.hosts)
