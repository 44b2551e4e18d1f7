"""A generated Nagios object configuration of any size, and what it defines by construction.

``write_configuration(directory, hosts)`` writes a ``nagios.cfg`` naming one template file
(``cfg_file``) and a directory of object files (``cfg_dir``), with templates three levels deep,
multiple ``use``, hosts joining groups both ways (``hostgroups`` and ``members``), services on
``host_name`` lists, on ``hostgroup_name`` lists with ``!host`` exclusions, and on ``*`` with
one host left out. The :class:`Expected` it returns is computed from the same plan, not by
reading the files: host -> groups, (host, service) -> (attempts, interval µs, groups).
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

MINUTE = 60 * 1_000_000
GROUPS = 10
DIRECT_PER_HOST = 10  # services named on host_name lists
PER_GROUP = 10  # services named on each hostgroup
CHUNK = 10  # hosts per host_name list

TEMPLATES = """\
# templates three levels deep; the leaves use two parents each
define host {
    name                generic-host
    max_check_attempts  3
    check_interval      5
    register            0
}
define host {
    name                site-host      ; level 2
    use                 generic-host
    check_interval      2
    register            0
}
define host {
    name                linux-host
    use                 site-host
    max_check_attempts  5
    register            0
}
define service {
    name                base-svc
    check_command       check_dummy
    max_check_attempts  3
    check_interval      5
    register            0
}
define service {
    name                fast-svc
    use                 base-svc
    check_interval      1
    register            0
}
define service {
    name                grouped-svc
    use                 base-svc
    max_check_attempts  4
    servicegroups       sg-core
    register            0
}
define service {
    name                leaf-svc
    use                 fast-svc,grouped-svc   ; fast-svc first: its values win
    register            0
}
define servicegroup {
    servicegroup_name   sg-core
    alias               Core\\; generated
}
define servicegroup {
    servicegroup_name   sg-extra
}
define command {
    command_name        check_dummy
    command_line        /bin/true
}
"""


@dataclass
class Expected:
    #: host -> (groups, max_check_attempts, check_interval µs, address)
    hosts: dict[str, tuple[tuple[str, ...], int, int, str]] = field(default_factory=dict)
    services: dict[tuple[str, str], tuple[int, int, tuple[str, ...]]] = field(default_factory=dict)
    hostgroups: tuple[str, ...] = ()
    servicegroups: tuple[str, ...] = ("sg-core", "sg-extra")


def write_configuration(directory: Path, hosts: int) -> tuple[Path, Expected]:
    """Write the configuration for ``hosts`` hosts (a multiple of 20); return nagios.cfg."""
    assert hosts % (2 * GROUPS) == 0
    objects = directory / "objects"
    (objects / "hosts").mkdir(parents=True)
    (directory / "templates.cfg").write_text(TEMPLATES)
    main = directory / "nagios.cfg"
    # Nagios started as root drops to nagios_user before reading objects: name ourselves, so
    # that `nagios4 -v` reads files under a private /tmp/pytest-of-root.
    user, user_group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    main.write_text(
        f"# generated\nnagios_user={user}\nnagios_group={user_group}\n"
        "cfg_file=templates.cfg\ncfg_dir=objects\ninterval_length=60\n"
    )
    expected = Expected(hostgroups=tuple(f"g{g}" for g in range(GROUPS)))
    names = [f"h{i:05d}" for i in range(hosts)]
    members: dict[int, list[str]] = {g: [] for g in range(GROUPS)}
    host_text: list[str] = []
    for i, name in enumerate(names):
        group = i % GROUPS
        members[group].append(name)
        if (i // GROUPS) % 2:  # joins by its own hostgroups directive
            address = f"10.0.{i // 250}.{i % 250}"
            expected.hosts[name] = ((f"g{group}",), 5, 2 * MINUTE, address)
            host_text.append(
                f"define host{{\n  use linux-host\n  host_name {name}\n"
                f"  address {address}\n  hostgroups g{group}\n}}\n"
            )
        else:  # joins by the group's members list
            expected.hosts[name] = ((f"g{group}",), 3, 2 * MINUTE, name)
            host_text.append(
                f"define host {{\n  use site-host,generic-host\n  host_name {name}\n}}\n"
            )
    (objects / "hosts" / "hosts.cfg").write_text("".join(host_text))
    group_text = []
    for g in range(GROUPS):
        listed = ",".join(n for n in members[g] if (int(n[1:]) // GROUPS) % 2 == 0)
        group_text.append(f"define hostgroup {{\n  hostgroup_name g{g}\n  members {listed}\n}}\n")
    (objects / "groups.cfg").write_text("".join(group_text))
    service_text: list[str] = []
    for j in range(DIRECT_PER_HOST):
        for start in range(0, hosts, CHUNK):
            chunk = names[start : start + CHUNK]
            extra = "  servicegroups +sg-extra\n" if j == 0 else ""
            service_text.append(
                f"define service {{\n  use leaf-svc\n  host_name {', '.join(chunk)}\n"
                f"  service_description direct {j}\n{extra}}}\n"
            )
            groups = ("sg-core", "sg-extra") if j == 0 else ("sg-core",)
            for name in chunk:
                expected.services[(name, f"direct {j}")] = (3, MINUTE, groups)
    for g in range(GROUPS):
        left_out = members[g][0]
        for k in range(PER_GROUP):
            service_text.append(
                f"define service {{\n  use grouped-svc\n  hostgroup_name g{g}\n"
                f"  host_name !{left_out}\n  service_description group {k}\n"
                f"  check_interval 3\n}}\n"
            )
            for name in members[g][1:]:
                expected.services[(name, f"group {k}")] = (4, 3 * MINUTE, ("sg-core",))
    service_text.append(
        f"define service {{\n  use base-svc\n  host_name *,!{names[0]}\n"
        "  service_description everywhere\n  servicegroups sg-extra\n}\n"
    )
    for name in names[1:]:
        expected.services[(name, "everywhere")] = (3, 5 * MINUTE, ("sg-extra",))
    (objects / "services.cfg").write_text("".join(service_text))
    (objects / "README").write_text("not a .cfg file: never read\n")
    return main, expected
