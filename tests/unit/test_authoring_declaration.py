"""The declarative file: reading it, writing it back (round trip), and validating its names.

The strategies here are shared with ``test_authoring_plan``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.authoring.declaration import (
    DEFAULT_MAX_CHECK_ATTEMPTS,
    Declaration,
    DeclarationError,
    Group,
    Host,
    Poller,
    Service,
    Site,
    dump_declaration,
    format_duration,
    load_declaration,
    parse_duration,
)
from engine.authoring.validation import validate
from engine.errors import ConfigError
from schemas.configuration import DEFAULT_CHECK_INTERVAL, HostDefined

EXAMPLE = """\
[sites.paris]
description = "Paris datacenter"

[pollers.poller-1]
site = "paris"
address = "10.0.0.5"

[hostgroups.linux]
alias = "Linux servers"

[servicegroups.http]
alias = "Web services"

[hosts."web-01"]
site = "paris"
poller = "poller-1"
alias = "Web server 01"
address = "10.1.0.1"
groups = ["linux"]
max_check_attempts = 3
check_interval = "5m"

[hosts.web-01.services.HTTP]
groups = ["http"]
max_check_attempts = 4
check_interval = "1m"
"""

# Names as an administrator may write them: spaces, quotes, backslashes, dots, unicode,
# control characters, even empty. Surrogates cannot be written in UTF-8 at all.
ANY_NAME = st.one_of(
    st.sampled_from(["web-01", "a.b", 'say "hi"', "back\\slash", "été ü", "tab\there", ""]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=10),
)
SITE_NAME = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
ATTEMPTS = st.integers(1, 20)
INTERVAL = st.one_of(st.just(DEFAULT_CHECK_INTERVAL), st.integers(1, 10**12))


def _services(host: str, names: st.SearchStrategy[str], groups: list[str]) -> st.SearchStrategy:
    return st.dictionaries(
        names,
        st.tuples(st.lists(st.sampled_from(groups)) if groups else st.just([]), ATTEMPTS, INTERVAL),
        max_size=4,
    ).map(lambda d: tuple(Service(host, k, tuple(g), a, i) for k, (g, a, i) in d.items()))


@st.composite
def declarations(
    draw: st.DrawFn, names: st.SearchStrategy[str] = ANY_NAME, consistent: bool = False
) -> Declaration:
    """Any declaration; ``consistent`` ones name only what they declare, on valid sites."""
    if consistent:
        names = names.filter(bool)
    site_names = draw(st.lists(SITE_NAME if consistent else ANY_NAME, unique=True, max_size=3))
    if consistent and not site_names:
        site_names = ["s1"]
    sites = tuple(Site(n, draw(TEXT)) for n in site_names)
    in_site = st.sampled_from(site_names) if site_names else ANY_NAME
    pollers = tuple(
        Poller(n, draw(in_site), draw(TEXT)) for n in draw(st.lists(names, unique=True, max_size=3))
    )
    hostgroups = tuple(Group(n, draw(TEXT)) for n in draw(st.lists(names, unique=True, max_size=3)))
    servicegroups = tuple(
        Group(n, draw(TEXT)) for n in draw(st.lists(names, unique=True, max_size=3))
    )
    # Consistent declarations keep names apart by case too, and non-empty.
    unique_by = (lambda n: n.casefold()) if consistent else (lambda n: n)
    host_names = st.lists(names.filter(bool) if consistent else names, unique_by=unique_by)
    hosts = []
    for name in draw(host_names.map(lambda x: x[:5])):
        site = draw(in_site)
        on_site = [p.name for p in pollers if p.site == site]
        poller = draw(st.sampled_from(["", *on_site])) if consistent else draw(TEXT)
        groups = [g.name for g in hostgroups]
        service_names = names.filter(bool) if consistent else names
        services = draw(_services(name, service_names, [g.name for g in servicegroups]))
        if consistent:
            by_case = {s.description.casefold(): s for s in services}
            services = tuple(by_case.values())
        hosts.append(
            Host(
                name,
                site,
                poller,
                draw(TEXT),
                draw(TEXT),
                tuple(draw(st.lists(st.sampled_from(groups)))) if groups else (),
                draw(ATTEMPTS),
                draw(INTERVAL),
                services,
            )
        )
    return Declaration(sites, pollers, hostgroups, servicegroups, tuple(hosts))


def _write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_loads_as_the_model(tmp_path: Path) -> None:
    decl = load_declaration(_write(tmp_path, EXAMPLE))
    assert decl.sites == (Site("paris", "Paris datacenter"),)
    assert decl.pollers == (Poller("poller-1", "paris", "10.0.0.5"),)
    assert decl.hostgroups == (Group("linux", "Linux servers"),)
    assert decl.servicegroups == (Group("http", "Web services"),)
    http = Service("web-01", "HTTP", ("http",), 4, 60_000_000)
    assert decl.hosts == (
        Host(
            "web-01",
            "paris",
            "poller-1",
            "Web server 01",
            "10.1.0.1",
            ("linux",),
            3,
            300_000_000,
            (http,),
        ),
    )
    assert validate(decl) == []


def test_defaults_are_the_payloads() -> None:
    defined = HostDefined(host_name="h", site_name="s")
    assert Host("h", "s").max_check_attempts == defined.max_check_attempts
    assert Host("h", "s").check_interval == defined.check_interval == DEFAULT_CHECK_INTERVAL
    assert defined.max_check_attempts == DEFAULT_MAX_CHECK_ATTEMPTS


def test_the_model_is_canonical() -> None:
    a = Host("h", "s", groups=("b", "a", "b"), services=(Service("h", "z"), Service("h", "y")))
    assert a.groups == ("a", "b")
    assert [s.description for s in a.services] == ["y", "z"]
    assert Declaration(sites=(Site("b"), Site("a"))) == Declaration(sites=(Site("a"), Site("b")))


H = "[hosts.w]\nsite = 's'\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[hosts.web-01]\nsite = 'paris'\ncolour = 'red'\n", "hosts.web-01.colour: unknown key"),
        ("[hosts.web-01]\nsite = 3\n", "hosts.web-01.site: expected a string, got an integer"),
        ("[hosts.web-01]\nalias = 'x'\n", "hosts.web-01.site: missing (required)"),
        ("[pollers.p1]\naddress = 'x'\n", "pollers.p1.site: missing (required)"),
        (H + "check_interval = '5 minutes'\n", "hosts.w.check_interval: bad duration '5 minutes'"),
        (H + "check_interval = 0\n", "hosts.w.check_interval: the duration must be positive"),
        (H + "check_interval = 1.5\n", "hosts.w.check_interval: expected a duration"),
        (H + "max_check_attempts = 0\n", "hosts.w.max_check_attempts: expected an integer >= 1"),
        (H + "max_check_attempts = true\n", "hosts.w.max_check_attempts: expected an integer >= 1"),
        (H + "groups = 'linux'\n", "hosts.w.groups: expected an array of strings, got a string"),
        (
            H + "[hosts.w.services.HTTP]\nretries = 2\n",
            "hosts.w.services.HTTP.retries: unknown key",
        ),
        (
            '[hosts."web 01".services."a.b"]\ncheck_interval = "1y"\n',
            'hosts."web 01".services."a.b".check_interval: bad duration',
        ),
        ("[pools.default]\n", "pools: unknown key"),
        ("sites = 3\n", "sites: expected a table, got an integer"),
        ("[sites]\nparis = 'x'\n", "sites.paris: expected a table, got a string"),
    ],
)
def test_a_bad_field_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DeclarationError) as caught:
        load_declaration(path)
    assert isinstance(caught.value, ConfigError)
    lines = [p for p in caught.value.problems if expected in p]
    assert len(lines) == 1, caught.value.problems
    assert lines[0].startswith(f"{path}: {expected}")
    assert all("\n" not in p for p in caught.value.problems)


def test_every_bad_field_is_reported_at_once(tmp_path: Path) -> None:
    text = "[hosts.a]\nsite = 1\n[hosts.b]\ncheck_interval = 'x'\n[pollers.p]\n"
    with pytest.raises(DeclarationError) as caught:
        load_declaration(_write(tmp_path, text))
    assert [p.split(": ")[1] for p in caught.value.problems] == [
        "pollers.p.site",
        "hosts.a.site",
        "hosts.b.site",
        "hosts.b.check_interval",
    ]
    assert str(caught.value) == "\n".join(caught.value.problems)


def test_a_file_that_is_not_toml_or_not_there_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[hosts.web-01\nsite = 'paris'\n")
    with pytest.raises(DeclarationError, match=rf"^{path}: not TOML: .*line 1") as caught:
        load_declaration(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(DeclarationError, match=r"missing.toml: cannot read: "):
        load_declaration(tmp_path / "missing.toml")
    (tmp_path / "latin1.toml").write_bytes(b"[sites.caf\xe9]\n")
    with pytest.raises(DeclarationError, match=r"latin1\.toml: "):
        load_declaration(tmp_path / "latin1.toml")


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("90s", 90_000_000),
        ("5m", 300_000_000),
        ("1h", 3_600_000_000),
        (60, 60_000_000),
        ("250ms", 250_000),
        ("7us", 7),
        ("2d", 172_800_000_000),
    ],
)
def test_durations(text: str | int, micros: int) -> None:
    assert parse_duration(text) == micros


@given(st.integers(1, 10**15))
def test_a_written_duration_reads_back(micros: int) -> None:
    assert parse_duration(format_duration(micros)) == micros


def test_a_duration_is_written_in_its_largest_exact_unit() -> None:
    assert [format_duration(m * 1_000_000) for m in (300, 90, 3600, 86_400)] == [
        "5m",
        "90s",
        "1h",
        "1d",
    ]


def test_the_example_dumps_and_loads_back(tmp_path: Path) -> None:
    decl = load_declaration(_write(tmp_path, EXAMPLE))
    text = dump_declaration(decl)
    assert 'check_interval = "1m"' in text and "[hosts.web-01.services.HTTP]" in text
    assert load_declaration(_write(tmp_path, text, "again.toml")) == decl


# The one file is overwritten by every example: tmp_path being shared among them is fine.
@settings(
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(declarations())
def test_dump_then_load_is_the_same_declaration(tmp_path: Path, decl: Declaration) -> None:
    path = tmp_path / "dumped.toml"
    path.write_text(dump_declaration(decl), encoding="utf-8")
    assert load_declaration(path) == decl


def test_dumping_nothing_loads_as_nothing(tmp_path: Path) -> None:
    assert dump_declaration(Declaration()) == ""
    assert load_declaration(_write(tmp_path, "")) == Declaration()


# Validation ------------------------------------------------------------------------


def _example() -> Declaration:
    http = Service("web-01", "HTTP", ("http",))
    return Declaration(
        (Site("paris"),),
        (Poller("poller-1", "paris"),),
        (Group("linux"),),
        (Group("http"),),
        (Host("web-01", "paris", "poller-1", groups=("linux",), services=(http,)),),
    )


def _with_host(decl: Declaration, **changes: object) -> Declaration:
    host = decl.hosts[0]
    fields = {f: getattr(host, f) for f in Host.__dataclass_fields__} | changes
    return Declaration(
        decl.sites, decl.pollers, decl.hostgroups, decl.servicegroups, (Host(**fields),)
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"site": "lyon", "poller": ""}, ["hosts.web-01.site: unknown site 'lyon'"]),
        ({"poller": "poller-9"}, ["hosts.web-01.poller: undeclared poller 'poller-9'"]),
        ({"groups": ("windows",)}, ["hosts.web-01.groups: undeclared host group 'windows'"]),
        (
            {"services": (Service("web-01", "PING", ("ping",)),)},
            ["hosts.web-01.services.PING.groups: undeclared service group 'ping'"],
        ),
        (
            {"services": (Service("web-01", "HTTP"), Service("web-01", "http"))},
            ["hosts.web-01.services.http: the same description as service 'HTTP' but for case"],
        ),
        ({"services": (Service("web-01", ""),)}, ['hosts.web-01.services."": empty description']),
        (
            {"services": (Service("web-02", "SSH"),)},
            ["hosts.web-01.services.SSH: names host 'web-02', not its own"],
        ),
        ({"max_check_attempts": 0}, ["hosts.web-01.max_check_attempts: must be >= 1, got 0"]),
    ],
)
def test_each_broken_reference_is_one_line(changes: dict[str, object], expected: list[str]) -> None:
    assert validate(_example()) == []
    assert validate(_with_host(_example(), **changes)) == expected


def test_a_known_site_need_not_be_declared() -> None:
    decl = _with_host(_example(), site="lyon", poller="")
    assert validate(decl, known_sites={"lyon"}) == []
    lyon = Declaration(pollers=(Poller("p2", "lyon"),))
    assert validate(lyon) == ["pollers.p2.site: unknown site 'lyon'"]
    assert validate(lyon, known_sites={"lyon"}) == []


def test_a_poller_on_another_site_is_refused() -> None:
    decl = _example()
    decl = Declaration(
        (*decl.sites, Site("lyon")),
        (Poller("poller-1", "lyon"),),
        decl.hostgroups,
        decl.servicegroups,
        decl.hosts,
    )
    assert validate(decl) == [
        "hosts.web-01.poller: poller 'poller-1' is on site 'lyon', the host on 'paris'"
    ]


def test_names_that_are_not_site_names_or_empty_are_refused() -> None:
    decl = Declaration(sites=(Site("Paris DC"),), hosts=(Host("", "Paris DC"),))
    problems = validate(decl)
    assert problems[0].startswith('sites."Paris DC": invalid site name')
    assert problems[1:] == ['hosts."": empty name']


def test_hosts_equal_but_for_case_are_refused() -> None:
    decl = Declaration((Site("s"),), hosts=(Host("WEB", "s"), Host("web", "s")))
    assert validate(decl) == ["hosts.web: the same name as host 'WEB' but for case"]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(declarations(consistent=True))
def test_a_declaration_naming_only_what_it_declares_is_valid(decl: Declaration) -> None:
    assert validate(decl) == []


@settings(max_examples=100)
@given(declarations(), st.sets(ANY_NAME, max_size=2))
def test_every_host_on_an_unknown_site_is_reported(decl: Declaration, known: set[str]) -> None:
    sites = {s.name for s in decl.sites} | known
    problems = validate(decl, known)
    lost = [h for h in decl.hosts if h.site not in sites]
    for host in lost:
        assert any(p.endswith(f"site: unknown site {host.site!r}") for p in problems)
    if not lost:
        assert not any(".site: unknown site" in p and p.startswith("hosts.") for p in problems)
