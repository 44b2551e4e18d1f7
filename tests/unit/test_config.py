"""Node configuration: TOML, environment overrides, and one clear error per bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.node.config import env_name, load
from projections.retention import DAY, DEFAULT_RETENTION, HOUR, MINUTE

REMOTE = """
[node]
name = "paris-1"
role = "remote"
site = "paris"

[database]
dsn = "postgresql://localhost/paris"

[sites.central]
bootstrap_servers = "kafka-central:9092"

[sites.paris]
bootstrap_servers = "kafka-paris:9092"
connect_timeout = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_a_remote_node_follows_its_site_and_central(tmp_path: Path) -> None:
    config = load(write(tmp_path, REMOTE), env={})
    assert (config.name, config.role, config.site, config.schema) == (
        "paris-1",
        "remote",
        "paris",
        "sitelog",
    )
    assert sorted(config.followed) == ["central", "paris"]
    assert config.sites["paris"].connect_timeout == 5.0
    assert config.accepts("paris") and not config.accepts("lyon")


def test_a_central_node_follows_every_site(tmp_path: Path) -> None:
    text = (
        REMOTE.replace('role = "remote"', 'role = "central"').replace(
            'site = "paris"', 'site = "central"'
        )
        + '[sites.lyon]\nbootstrap_servers = "k:1"\n'
    )
    config = load(write(tmp_path, text), env={})
    assert sorted(config.followed) == ["central", "lyon", "paris"]
    assert config.accepts("lyon")


def test_every_key_can_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        env_name("node", "role"): "central",
        env_name("node", "site"): "central",
        env_name("database", "dsn"): "postgresql://elsewhere/db",
        "SITELOG_SITES_PARIS_BOOTSTRAP_SERVERS": "other:9093",
        "SITELOG_SITES_LYON_BOOTSTRAP_SERVERS": "lyon:9092",
        "SITELOG_SITES_LYON_CONNECT_TIMEOUT": "2.5",
        "SITELOG_SITES_LYON_REPLICATION_FACTOR": "3",
    }
    config = load(write(tmp_path, REMOTE), env=env)
    assert config.role == "central" and config.dsn == "postgresql://elsewhere/db"
    assert config.sites["paris"].bootstrap_servers == "other:9093"
    assert config.sites["lyon"].connect_timeout == 2.5
    assert config.sites["lyon"].replication_factor == 3


@pytest.mark.parametrize(
    ("edit", "env", "message"),
    [
        (("[database]\n", "[databse]\n"), {}, r"unknown section \[databse\]"),
        (('name = "paris-1"\n', ""), {}, "missing key node.name"),
        (('role = "remote"', 'role = "primary"'), {}, "node.role: 'primary' is not one of"),
        (('site = "paris"', "site = 3"), {}, "node.site: expected a str, got int"),
        (
            ("connect_timeout = 5", "connect_timeout = true"),
            {},
            "sites.paris.connect_timeout: expected a float, got bool",
        ),
        (("connect_timeout = 5", 'bootstrap = "x"'), {}, "unknown key sites.paris.bootstrap"),
        (("[sites.central]", "[sites.centre]"), {}, r"missing section \[sites.central\]"),
        (("[sites.paris]\n", "[sites.Paris]\n"), {}, r"\[sites.Paris\]: invalid site name"),
        (
            (" ", " "),
            {"SITELOG_SITES_PARIS_CONNECT_TIMEOUT": "soon"},
            "sites.paris.connect_timeout: 'soon' is not a float",
        ),
        ((" ", " "), {"SITELOG_SITES_PARIS_COLOUR": "red"}, "SITELOG_SITES_PARIS_COLOUR: no such"),
        (('role = "remote"', 'role = "central"'), {}, "a central node writes to site 'central'"),
        (("[node]", "[node"), {}, r"config file .*node.toml"),
    ],
)
def test_bad_configuration_is_one_error_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, REMOTE.replace(*edit, 1)), env=env)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope.toml not found"):
        load(tmp_path / "nope.toml", env={})


def test_pool_settings_default_to_scom_and_can_be_set(tmp_path: Path) -> None:
    defaults = load(write(tmp_path, REMOTE), env={})
    assert (defaults.lease_request_period, defaults.network_latency) == (130.0, 30.0)
    text = REMOTE + "[pools]\nlease_request_period = 10\n"
    config = load(write(tmp_path, text), env={"SITELOG_POOLS_NETWORK_LATENCY": "0.5"})
    assert (config.lease_request_period, config.network_latency) == (10.0, 0.5)
    with pytest.raises(ConfigError, match=r"^pools.lease_request_period: expected 0 <"):
        load(write(tmp_path, REMOTE + "[pools]\nlease_request_period = 0\n"), env={})
    with pytest.raises(ConfigError, match=r"^unknown key pools.lease$"):
        load(write(tmp_path, REMOTE + "[pools]\nlease = 3\n"), env={})


def test_retention_defaults_and_durations_from_the_file_and_the_environment(
    tmp_path: Path,
) -> None:
    defaults = load(write(tmp_path, REMOTE), env={})
    assert defaults.retention == DEFAULT_RETENTION
    assert defaults.retention_check_interval == 600.0
    text = REMOTE + '[retention]\npoints = "36h"\ntier_1d = "forever"\ncheck_interval = "1m"\n'
    config = load(write(tmp_path, text), env={"SITELOG_RETENTION_DEAD_LETTERS": "5y"})
    assert config.retention.points == 36 * HOUR
    assert config.retention.tier_1d is None
    assert config.retention.dead_letters == 5 * 365 * DAY
    assert config.retention.tier_5m == DEFAULT_RETENTION.tier_5m
    assert config.retention_check_interval == MINUTE / 1e6


@pytest.mark.parametrize(
    ("section", "env", "message"),
    [
        ('points = "8 days"', {}, r"^retention.points: '8 days' is not a duration"),
        ("points = 8", {}, r"^retention.points: expected a duration such as \"8d\""),
        ('colour = "8d"', {}, r"^unknown key retention.colour$"),
        ("", {"SITELOG_RETENTION_COLOUR": "8d"}, r"^unknown key retention.colour$"),
        ("", {"SITELOG_RETENTION_TIER_5M": "0d"}, r"^retention.tier_5m: '0d' must be longer"),
        ('tier_5m = "7d"', {}, r"^retention.tier_5m: 7d is shorter than retention.points \(8d\)"),
        ('tier_1h = "forever"', {}, r"^retention.tier_1d: 1826d is shorter than retention.tier_1h"),
        ('check_interval = "forever"', {}, r"^retention.check_interval: must be a duration"),
    ],
)
def test_bad_retention_is_one_error_naming_the_key(
    tmp_path: Path, section: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, REMOTE + f"[retention]\n{section}\n"), env=env)
