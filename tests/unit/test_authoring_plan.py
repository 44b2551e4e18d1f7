"""Planning a declaration against central's configuration, checked by folding the plan's
payloads with the projection's own fold and planning again."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.authoring.declaration import Declaration, Host, Poller, Service, Site
from engine.authoring.plan import Current, Plan, PlanError, plan
from engine.errors import ConfigError
from projections.model import InMemoryProjection
from schemas.configuration import (
    HostDefined,
    HostRemoved,
    PollerDefined,
    PollerRemoved,
    ServiceDefined,
    ServiceRemoved,
    SiteDefined,
)
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from tests.unit.test_authoring_declaration import SITE_NAME, declarations

CONSISTENT = declarations(consistent=True)


class Central:
    """Central's configuration as the projection folds it: appended plans become rows."""

    def __init__(self) -> None:
        self.projection = InMemoryProjection()
        self.clock = HybridLogicalClock()

    def apply(self, planned: Plan) -> None:
        events = [
            Event.create(
                t.payload,
                site="central",
                origin="test",
                clock=self.clock,
                target_site=t.target_site,
            )
            for t in planned.targeted()
        ]
        self.projection.apply_batch(events)

    def current(self) -> Current:
        return Current.from_rows(self.projection.rows())

    def target_sites(self, table: str) -> dict[tuple[str, ...], str]:
        """The target site of each live row of ``table``, by key."""
        width = 2 if table == "config_services" else 1  # the key's columns, then target_site
        live = [r for r in self.projection.rows()[table] if not r[-2]]  # removed, version
        return {tuple(r[:width]): r[width] for r in live}


def _paris() -> Declaration:
    web = Host(
        "web-01",
        "paris",
        "poller-1",
        address="10.1.0.1",
        services=(Service("web-01", "HTTP", max_check_attempts=4), Service("web-01", "PING")),
    )
    return Declaration(
        (Site("paris", "Paris"),),
        (Poller("poller-1", "paris"),),
        hosts=(web, Host("db-01", "paris")),
    )


def test_a_first_plan_defines_everything_in_order() -> None:
    planned = plan(_paris(), Current())
    assert planned.summary() == "6 to define, 0 to change, 0 to remove"
    kinds = [type(p) for p in planned.payloads()]
    assert kinds == [
        SiteDefined,
        PollerDefined,
        HostDefined,
        HostDefined,
        ServiceDefined,
        ServiceDefined,
    ]
    assert "+ host web-01 (paris)" in planned.lines()
    assert "+ service web-01/HTTP" in planned.lines()
    assert "+ poller poller-1 (paris)" in planned.lines()
    assert {t.target_site for t in planned.targeted()} == {"paris"}


def test_applying_twice_appends_nothing() -> None:
    central = Central()
    central.apply(plan(_paris(), central.current()))
    again = plan(_paris(), central.current(), prune_sites={"paris"})
    assert not again and again.payloads() == []
    assert again.summary() == "0 to define, 0 to change, 0 to remove"
    assert central.current().hosts == _paris().hosts


def test_a_change_lists_its_fields() -> None:
    central = Central()
    central.apply(plan(_paris(), central.current()))
    decl = _paris()
    web = decl.hosts[1]
    changed = replace(
        web,
        address="10.1.0.2",
        services=(replace(web.services[0], max_check_attempts=5), web.services[1]),
    )
    decl = replace(decl, hosts=(decl.hosts[0], changed))
    planned = plan(decl, central.current())
    assert planned.summary() == "0 to define, 2 to change, 0 to remove"
    assert planned.lines() == [
        "~ host web-01: address 10.1.0.1 -> 10.1.0.2",
        "~ service web-01/HTTP: max_check_attempts 4 -> 5",
    ]
    central.apply(planned)
    assert not plan(decl, central.current())


def test_removal_only_within_the_pruned_sites() -> None:
    central = Central()
    lyon = Declaration(
        (Site("lyon"),), (Poller("poller-2", "lyon"),), hosts=(Host("app-01", "lyon"),)
    )
    central.apply(plan(lyon, central.current()))
    central.apply(plan(_paris(), central.current()))
    # The file now declares paris without db-01, poller-1 and web-01's PING.
    web = replace(_paris().hosts[1], poller="", services=_paris().hosts[1].services[:1])
    smaller = Declaration((Site("paris"),), hosts=(web,))
    kept = plan(smaller, central.current())  # no pruning: nothing removed
    assert kept.remove == []
    planned = plan(smaller, central.current(), prune_sites={"paris"})
    assert [line for line in planned.lines() if line.startswith("-")] == [
        "- service web-01/PING",
        "- host db-01",
        "- poller poller-1",
    ]
    removals = [type(p) for p in planned.payloads() if type(p).__name__.endswith("Removed")]
    assert removals == [ServiceRemoved, HostRemoved, PollerRemoved]
    central.apply(planned)
    current = central.current()
    assert [h.name for h in current.hosts] == ["app-01", "web-01"]
    assert [p.name for p in current.pollers] == ["poller-2"]
    assert [s.name for s in current.sites] == ["lyon", "paris"]  # sites are never removed
    assert not plan(smaller, current, prune_sites={"paris"})


def test_a_removed_hosts_services_go_before_it() -> None:
    central = Central()
    central.apply(plan(_paris(), central.current()))
    planned = plan(Declaration((Site("paris"),)), central.current(), prune_sites={"paris"})
    kinds = [type(p).__name__ for p in planned.payloads()]
    assert kinds.index("HostRemoved") > max(i for i, k in enumerate(kinds) if k == "ServiceRemoved")
    central.apply(planned)
    assert central.current().hosts == ()


def test_a_move_is_refused_unless_allowed() -> None:
    central = Central()
    central.apply(plan(_paris(), central.current()))
    web = replace(_paris().hosts[1], site="lyon", poller="")
    moved = Declaration((Site("lyon"),), hosts=(web,))
    with pytest.raises(PlanError) as caught:
        plan(moved, central.current())
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value) == (
        "host 'web-01' would move from site 'paris' to site 'lyon' (moving a host must be allowed)"
    )
    planned = plan(moved, central.current(), allow_move=True)
    assert '~ host web-01: site paris -> lyon, poller poller-1 -> ""' in planned.lines()
    # Removed from paris's subset, then defined in lyon's: each remote ends up right.
    assert [(t.target_site, type(t.payload).__name__) for t in planned.targeted()] == [
        ("lyon", "SiteDefined"),
        ("paris", "ServiceRemoved"),
        ("paris", "ServiceRemoved"),
        ("paris", "HostRemoved"),
        ("lyon", "HostDefined"),
        ("lyon", "ServiceDefined"),
        ("lyon", "ServiceDefined"),
    ]
    central.apply(planned)
    assert central.current().hosts[-1] == web
    assert central.target_sites("config_hosts")[("web-01",)] == "lyon"
    assert central.target_sites("config_services")[("web-01", "HTTP")] == "lyon"
    assert not plan(moved, central.current(), allow_move=True)


def test_current_leaves_out_removed_rows_and_orphan_services() -> None:
    central = Central()
    central.apply(plan(_paris(), central.current()))
    removed = HostRemoved(host_name="web-01")
    event = Event.create(removed, site="central", origin="t", clock=central.clock)
    central.projection.apply_batch([event])
    # Its services' rows are still there, not removed: they left with their host.
    assert ("web-01", "HTTP") in central.target_sites("config_services")
    assert [h.name for h in central.current().hosts] == ["db-01"]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(CONSISTENT)
def test_a_plan_applied_leaves_nothing_to_plan(decl: Declaration) -> None:
    central = Central()
    first = plan(decl, central.current())
    assert len(first.define) == len(decl.sites) + len(decl.pollers) + sum(
        1 + len(h.services) for h in decl.hosts
    )
    central.apply(first)
    current = central.current()
    assert current.hosts == decl.hosts and current.pollers == decl.pollers
    assert current.sites == decl.sites
    assert not plan(decl, current, prune_sites={s.name for s in decl.sites})


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(CONSISTENT, CONSISTENT, st.sets(SITE_NAME, max_size=3))
def test_a_second_declaration_over_the_first_holds_exactly_it_on_the_pruned_sites(
    first: Declaration, second: Declaration, pruned: set[str]
) -> None:
    central = Central()
    central.apply(plan(first, central.current()))
    before = central.current()
    planned = plan(second, before, prune_sites=pruned, allow_move=True)
    central.apply(planned)
    after = central.current()
    assert not plan(second, after, prune_sites=pruned, allow_move=True)
    hosts = {h.name: h for h in after.hosts}
    declared = {h.name: h for h in second.hosts}
    for name, host in declared.items():
        assert _own(hosts[name]) == _own(host)
        if host.site in pruned:
            assert hosts[name] == host
        else:  # services may stay: the site is not pruned
            assert set(host.services) <= set(hosts[name].services)
    for old in before.hosts:
        if old.name not in declared:
            # Removed exactly when its site is pruned; another site's host is untouched.
            assert (old.name in hosts) == (old.site not in pruned)
            if old.site not in pruned:
                assert hosts[old.name] == old
    # Every row is in its host's site's subset, so each remote holds its own hosts.
    host_targets = central.target_sites("config_hosts")
    service_targets = central.target_sites("config_services")
    for host in after.hosts:
        assert host_targets[(host.name,)] == host.site
        assert {service_targets[(host.name, s.description)] for s in host.services} <= {host.site}
    pollers = {p.name for p in after.pollers}
    for poller in before.pollers:
        kept = poller.site not in pruned or poller.name in {p.name for p in second.pollers}
        assert (poller.name in pollers) == kept


def _own(host: Host) -> Host:
    return replace(host, services=())
