"""Perfdata as real plugins print it, thresholds that break the guidelines included.

Each case names the plugin and where its line was seen (an issue thread quoting the output,
or the plugin's source). The rule under test: a metric whose value and unit read is kept
with its label, value and unit even when its warn, crit, min or max does not read; only the
bad field is dropped, and each one is reported as a problem of that metric. A metric whose
value or unit does not read is still an error: nothing was measured that could be kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from projections.checks import apply_check
from projections.perfdata import Metric, ParsedPerfdata, parse_perfdata
from projections.state import Changes, ProjectionState
from projections.tables import PERFDATA_METRICS, PERFDATA_POINTS
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import ServiceCheckResult
from schemas.types import ServiceState, StateType
from tests.unit.test_perfdata import metric


@dataclass(frozen=True)
class Case:
    source: str
    text: str
    metrics: tuple[Metric, ...]
    problems: tuple[tuple[str, str, str], ...] = ()  # (label, field, text)
    errors: tuple[str, ...] = ()  # texts of the metrics refused whole


SNMP_BLOCKED = "MCAFEE-MWG-MIB::stConnectionsBlocked.0"
SNMP_LEGIT = "MCAFEE-MWG-MIB::stConnectionsLegitimate.0"
SNMP_LOAD = "HOST-RESOURCES-MIB::hrSystemInitialLoadDevice.0"
SNMP_USERS = "HOST-RESOURCES-MIB::hrSystemNumUsers.0"
SNMP_LISTS = "230400,230400,1000000000,1000000000,0.01,0.01"

CASES = [
    # --- thresholds that break the guidelines: the value is kept ------------------------
    Case(
        # check_snmp 2.1.4 with several OIDs prints the whole -w/-c lists in each metric
        # (nagios-plugins/nagios-plugins#291)
        "check_snmp 2.1.4, --rate -w 1:,100: -c 10:,1000:",
        f"{SNMP_BLOCKED}=0.009795797207;1:,100:;10:,1000:;0;0; "
        f"{SNMP_LEGIT}=2.264746262;1:,100:;10:,1000:;0;0;",
        (
            metric(SNMP_BLOCKED, 0.009795797207, min=0.0, max=0.0),
            metric(SNMP_LEGIT, 2.264746262, min=0.0, max=0.0),
        ),
        (
            (SNMP_BLOCKED, "warn", "1:,100:"),
            (SNMP_BLOCKED, "crit", "10:,1000:"),
            (SNMP_LEGIT, "warn", "1:,100:"),
            (SNMP_LEGIT, "crit", "10:,1000:"),
        ),
    ),
    Case(
        # monitoring-plugins check_snmp before its fix (monitoring-plugins#1722)
        "check_snmp (monitoring-plugins < 2.4), -w '1,2' -c '3,4'",
        f"{SNMP_LOAD}=393216;1,2;3,4 {SNMP_USERS}=24;1,2;3,4",
        (metric(SNMP_LOAD, 393216.0), metric(SNMP_USERS, 24.0)),
        (
            (SNMP_LOAD, "warn", "1,2"),
            (SNMP_LOAD, "crit", "3,4"),
            (SNMP_USERS, "warn", "1,2"),
            (SNMP_USERS, "crit", "3,4"),
        ),
    ),
    Case(
        # monitoring-plugins#1327: six-OID lists copied into every metric
        "check_snmp 2.1.1, --rate with six -w/-c values",
        f"in=8273.875;{SNMP_LISTS};{SNMP_LISTS} inerr=0;{SNMP_LISTS};{SNMP_LISTS}",
        (metric("in", 8273.875), metric("inerr", 0.0)),
        (
            ("in", "warn", SNMP_LISTS),
            ("in", "crit", SNMP_LISTS),
            ("inerr", "warn", SNMP_LISTS),
            ("inerr", "crit", SNMP_LISTS),
        ),
    ),
    Case(
        # constructed from monitoring-plugins#1722, which says check_snmp prints a -c
        # '~:-1' back as '@-1:~' ("~" as an end)
        "check_snmp, -c '~:-1' printed as '@-1:~'",
        "hrSystemNumUsers.0=24;;@-1:~",
        (metric("hrSystemNumUsers.0", 24.0),),
        (("hrSystemNumUsers.0", "crit", "@-1:~"),),
    ),
    Case(
        # The examples: NSClient++ style thresholds carrying the value's unit, a
        # decimal-comma locale, a three-part range and a lone "~".
        "NSClient++ style units on thresholds (issue 17)",
        r"'C:\ used %'=39%;80%;90% time=0.5s;1,5;3,0 temp=85;80:90:100;~;0;120",
        (
            metric("C:\\ used %", 39.0, "%"),
            metric("time", 0.5, "s"),
            metric("temp", 85.0, min=0.0, max=120.0),
        ),
        (
            ("C:\\ used %", "warn", "80%"),
            ("C:\\ used %", "crit", "90%"),
            ("time", "warn", "1,5"),
            ("time", "crit", "3,0"),
            ("temp", "warn", "80:90:100"),
            ("temp", "crit", "~"),
        ),
    ),
    Case(
        # constructed from the NSClient++ check_drivesize line: a unit on min/max is not
        # stripped either, and a field after max is dropped
        "constructed: min/max with units, a sixth field",
        "'C:\\ used'=23.2GB;31.8;35.8;0GB;39.8GB users=3;5;10;0;100;200",
        (
            metric("C:\\ used", 23.2, "GB", "31.8", "35.8"),
            metric("users", 3.0, "", "5", "10", 0.0, 100.0),
        ),
        (("C:\\ used", "min", "0GB"), ("C:\\ used", "max", "39.8GB"), ("users", "extra", "200")),
    ),
    # --- a bad value or unit still refuses the metric, and only it ----------------------
    Case(
        # NSClient++ 0.4.3 check_drivesize "perf-config=free(unit:M)" (mickem/nscp#132)
        "NSClient++ 0.4.3 check_drivesize, unit M",
        r"'C:\ free'=83525.70312M;36613.51992;12204.50664;0;244090.13281 "
        r"'C:\ free %'=34%;14;4;0;100",
        (metric("C:\\ free %", 34.0, "%", "14", "4", 0.0, 100.0),),
        errors=(r"'C:\ free'=83525.70312M;36613.51992;12204.50664;0;244090.13281",),
    ),
    Case(
        # percona pmp-check-mysql-status -T str (percona/percona-monitoring-plugins#38)
        "pmp-check-mysql-status, a string value",
        "wsrep_cluster_status=Primary;;non-Primary;0; Threads_running=1;40;400;0;",
        (metric("Threads_running", 1.0, "", "40", "400", 0.0),),
        errors=("wsrep_cluster_status=Primary;;non-Primary;0;",),
    ),
    Case(
        # check_vmware_api.pl -l cpu (BaldMansMojo/check_vmware_esx#35)
        "check_vmware_api.pl -l cpu, unit MHz",
        "cpu_usagemhz=8859.00MHz;; cpu_usage=41.63%;;",
        (metric("cpu_usage", 41.63, "%"),),
        errors=("cpu_usagemhz=8859.00MHz;;",),
    ),
    Case(
        # check_diskstat.sh (mclarkson/check_diskstat#7): rates as units
        "check_diskstat.sh, units io/s and b/s",
        "tps=50io/s;;; read=1104150b/s;;; avgqu-sz=0;;; await=5ms;;;",
        (metric("avgqu-sz", 0.0), metric("await", 5.0, "ms")),
        errors=("tps=50io/s;;;", "read=1104150b/s;;;"),
    ),
    # --- lines that follow the guidelines come out whole --------------------------------
    Case(
        "check_ping",
        "rta=0.897000ms;3000.000000;5000.000000;0.000000 pl=0%;80;100;0",
        (
            metric("rta", 0.897, "ms", "3000", "5000", 0.0),
            metric("pl", 0.0, "%", "80", "100", 0.0),
        ),
    ),
    Case(
        "check_disk",
        "/=2643MB;5948;5958;0;5968 /boot=68MB;88;93;0;98",
        (
            metric("/", 2643.0, "MB", "5948", "5958", 0.0, 5968.0),
            metric("/boot", 68.0, "MB", "88", "93", 0.0, 98.0),
        ),
    ),
    Case(
        "check_http",
        "time=0.002915s;;;0.000000;10.000000 size=612B;;;0",
        (metric("time", 0.002915, "s", min=0.0, max=10.0), metric("size", 612.0, "B", min=0.0)),
    ),
    Case(
        # check_load.c prints a trailing ';' (nagios-plugins/nagios-plugins#642)
        "check_load",
        "load1=0.050;5.000;10.000;0; load5=0.040;4.000;6.000;0; load15=0.010;3.000;4.000;0;",
        (
            metric("load1", 0.05, "", "5", "10", 0.0),
            metric("load5", 0.04, "", "4", "6", 0.0),
            metric("load15", 0.01, "", "3", "4", 0.0),
        ),
    ),
    Case(
        # check_mysql_health --mode connection-time, as its own tests expect it
        "check_mysql_health",
        "'connection_time'=0.0081;10;30;; 'keycache_hitrate'=99.78%;99:;95:",
        (
            metric("connection_time", 0.0081, "", "10", "30"),
            metric("keycache_hitrate", 99.78, "%", "99:", "95:"),
        ),
    ),
    Case(
        # NSClient++ 0.4.3 check_memory (mickem/nscp#111)
        "NSClient++ 0.4.3 check_memory",
        "'physical'=1.13817GB;3.5996;3.5996;0;3.99956 'physical %'=28%;89;89;0;100",
        (
            metric("physical", 1.13817, "GB", "3.5996", "3.5996", 0.0, 3.99956),
            metric("physical %", 28.0, "%", "89", "89", 0.0, 100.0),
        ),
    ),
    Case(
        # centreon-plugins paloalto sessions (centreon/centreon-plugins#579)
        "centreon_plugins.pl paloalto --mode=sessions",
        "'active'=4596;0:80;;0;262136 'active_ssl_proxy'=0.00%;;;0;100 'active_tcp'=3586;;;0;",
        (
            metric("active", 4596.0, "", "80", None, 0.0, 262136.0),
            metric("active_ssl_proxy", 0.0, "%", min=0.0, max=100.0),
            metric("active_tcp", 3586.0, min=0.0),
        ),
    ),
    Case(
        # check_vmware_esx.pl -S cpu (BaldMansMojo/check_vmware_esx#202)
        "check_vmware_esx.pl -S cpu",
        "'cpu_usage'=0.16%;;;;",
        (metric("cpu_usage", 0.16, "%"),),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.source for case in CASES])
def test_real_plugin_output_keeps_what_was_measured(case: Case) -> None:
    parsed = parse_perfdata(case.text)
    assert parsed.metrics == case.metrics
    assert [(p.label, p.field, p.text) for p in parsed.problems] == list(case.problems)
    assert all(p.reason for p in parsed.problems)
    assert [e.text for e in parsed.errors] == list(case.errors)


def test_problems_can_be_counted_per_metric() -> None:
    parsed = parse_perfdata(CASES[4].text)
    counts: dict[str, int] = {}
    for problem in parsed.problems:
        counts[problem.label] = counts.get(problem.label, 0) + 1
    assert counts == {"C:\\ used %": 2, "time": 2, "temp": 2}
    assert {m.label for m in parsed.metrics} >= set(counts)


def test_a_dropped_field_is_reported_with_its_reason() -> None:
    parsed = parse_perfdata("x=1;0,5;80:90:100;0s;~;9")
    assert parsed.metrics == (metric("x", 1.0),)
    assert [(p.field, p.reason) for p in parsed.problems] == [
        ("warn", "decimal comma in range end '0,5' (C locale required)"),
        ("crit", "range '80:90:100' has more than one ':'"),
        ("min", "bad min '0s'"),
        ("max", "bad max '~'"),
        ("extra", "more than 5 fields"),
    ]


def test_the_same_tail_gives_the_same_problems_every_time() -> None:
    # The tail's parse is memoised; its problems must still be reported on every result.
    first, again = parse_perfdata("a=1;1,5"), parse_perfdata("a=2;1,5 b=3;1,5")
    assert [(p.label, p.text) for p in first.problems] == [("a", "1,5")]
    assert [(p.label, p.text) for p in again.problems] == [("a", "1,5"), ("b", "1,5")]
    assert [m.value for m in again.metrics] == [2.0, 3.0]


def test_results_without_problems_compare_equal_to_the_two_field_form() -> None:
    assert parse_perfdata("a=1") == ParsedPerfdata((metric("a", 1.0),), ())


def test_the_projection_writes_points_for_metrics_with_dropped_fields() -> None:
    # The fold (projections.checks) stores a point per kept metric: the value measured by
    # a plugin that prints NSClient++ style thresholds is not lost, only its thresholds.
    result = ServiceCheckResult(
        host_name="win1",
        service_description="disk",
        state=ServiceState.OK,
        state_type=StateType.HARD,
        attempt=1,
        max_attempts=3,
        output="OK",
        perfdata=r"'C:\ used %'=39%;80%;90;0;100 'C:\ free'=1M",
        check_time=1_700_000_000,
    )
    event = Event.create(
        result, site="s1", origin="poller-1", clock=HybridLogicalClock(lambda: 1_700_000_000_000)
    )
    changes = Changes()
    apply_check(ProjectionState(), event, result, changes)
    points = [(p.label, p.value, p.problem) for p in changes.appended(PERFDATA_POINTS)]
    assert points == [("C:\\ used %", 39.0, "warn '80%': bad range end '80%'")]
    metrics = changes.rows(PERFDATA_METRICS)
    used = metrics[("win1", "disk", "C:\\ used %")]
    assert (used.unit, used.warn, used.crit, used.min, used.max) == ("%", None, "90", 0.0, 100.0)
