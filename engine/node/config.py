"""Node configuration: one TOML file, every setting also from an environment variable.

```toml
[node]
name = "paris-1"          # origin of the events this node writes
role = "remote"           # "central" or "remote"
site = "paris"            # the site whose log this node writes to

[database]
dsn = "postgresql://sitelog@db/sitelog"
schema = "sitelog"

[sites.central]
bootstrap_servers = "kafka-central:9092"

[sites.paris]                 # any KafkaSettings field (engine/log/kafka.py)
bootstrap_servers = "kafka-paris:9093"
security_protocol = "SASL_SSL"      # PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL
ssl_cafile = "/etc/sitelog/kafka-ca.pem"  # CAs of the brokers' certificates (else the system's)
# ssl_certfile, ssl_keyfile, ssl_password: a client certificate, if the brokers ask for one
sasl_mechanism = "SCRAM-SHA-256"    # PLAIN (default), SCRAM-SHA-256, SCRAM-SHA-512
sasl_username = "paris-1"
# sasl_password: better from the environment, SITELOG_SITES_PARIS_SASL_PASSWORD

[api]
listen = "0.0.0.0:8080"

[pools]                       # the default observer's vote, cast by central
lease_request_period = 130.0  # seconds between its leases (SCOM's default)
network_latency = 30.0        # seconds; a lease lasts period + 2 x latency

[retention]                   # docs/retention.md; durations: "36h", "8d", "5y", "forever"
points = "8d"                 # raw perfdata points; then tier_5m, tier_1h, tier_1d
state_history = "400d"        # also audit_log, dead_letters, thresholds
check_interval = "10m"        # how often the node expires and creates partitions ahead

[api.tokens.alice]            # `sitelog token alice --scopes read,operate` prints one
sha256 = "9f86d08..."         # the SHA-256 of the secret, never the secret
scopes = ["read", "operate"]  # read, operate, admin
sites = ["paris"]             # optional: only these sites' subjects
```

An environment variable overrides a key: ``SITELOG_`` + the key's path in upper case,
with non-alphanumerics as ``_`` (``SITELOG_NODE_ROLE``, ``SITELOG_DATABASE_DSN``,
``SITELOG_SITES_PARIS_BOOTSTRAP_SERVERS``, ``SITELOG_API_TOKENS_ALICE_SCOPES`` as
``read,operate``, ``SITELOG_RETENTION_POINTS`` as ``8d``); a site or a token may be added
that way too.
A missing, unknown or ill-typed key is one ``ConfigError`` naming it, and so is a Kafka
setting its ``security_protocol`` would ignore (``ssl_cafile`` on PLAINTEXT), a SASL
protocol without ``sasl_username`` and ``sasl_password``, or a certificate file that
does not load. The brokers' refusals at run time (a certificate that does not verify,
a wrong password, plaintext against a TLS port) fail that site, in one log line and in
``/healthz``, and are not retried: a setting must change (docs/apache-kafka.md).
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.log.kafka import KafkaSettings
from engine.node.tokens import ApiToken, TokenConfigError, parse_token
from projections.retention import (
    DEFAULT_CHECK_INTERVAL,
    DEFAULT_RETENTION,
    RetentionError,
    RetentionPolicy,
    settings_from,
)
from schemas.errors import InvalidEventError
from schemas.types import check_site_name

#: The central site's name: its log holds configuration and central's operator actions.
CENTRAL = "central"


class NodeRole(StrEnum):
    """What a node follows and keeps: central follows every site log and keeps everything;
    a remote node follows its own site's log and central's, and keeps its site's subset."""

    CENTRAL = "central"
    REMOTE = "remote"


ROLES = tuple(role.value for role in NodeRole)

_SCALAR_KEYS: dict[str, dict[str, type]] = {
    "node": {"name": str, "role": str, "site": str},
    "database": {"dsn": str, "schema": str},
    "api": {"listen": str},
    "pools": {"lease_request_period": float, "network_latency": float},
}
# Every KafkaSettings field is a key of [sites.NAME]; optional ones take their inner type.
_KAFKA_KEYS: dict[str, type] = {
    name: next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_args(hint)
    else hint
    for name, hint in typing.get_type_hints(KafkaSettings).items()
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "database": {"schema": "sitelog"},
    "api": {"listen": "127.0.0.1:8080"},
    "pools": {"lease_request_period": 130.0, "network_latency": 30.0},
}


@dataclass(frozen=True)
class NodeConfig:
    name: str
    role: NodeRole
    site: str
    dsn: str
    schema: str
    listen: str
    sites: Mapping[str, KafkaSettings]
    tokens: tuple[ApiToken, ...] = ()
    lease_request_period: float = 130.0
    network_latency: float = 30.0
    retention: RetentionPolicy = DEFAULT_RETENTION
    #: How often the node's maintenance runs (seconds): ``engine.node.maintenance``.
    retention_check_interval: float = DEFAULT_CHECK_INTERVAL / 1e6

    def __post_init__(self) -> None:
        # A role given as its text ("remote") is the same role.
        object.__setattr__(self, "role", NodeRole(self.role))

    @property
    def followed(self) -> dict[str, KafkaSettings]:
        """The site logs this node replays: all of them on central; its own and central's on
        a remote node."""
        if self.role is NodeRole.CENTRAL:
            return dict(self.sites)
        return {name: self.sites[name] for name in (CENTRAL, self.site)}

    def accepts(self, target_site: str) -> bool:
        """Whether this node keeps subjects owned by ``target_site`` (its subset)."""
        return self.role is NodeRole.CENTRAL or target_site == self.site


def env_name(*path: str) -> str:
    return "SITELOG_" + "_".join(re.sub(r"[^A-Za-z0-9]", "_", p).upper() for p in path)


def _convert(path: str, value: Any, kind: type, from_env: bool) -> Any:
    if from_env and kind is not str:
        try:
            return kind(value)
        except ValueError:
            raise ConfigError(f"{path}: {value!r} is not a {kind.__name__}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{path}: expected a {kind.__name__}, got {type(value).__name__}")
    return value


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def _merge_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Apply SITELOG_* variables on top of the file's values (strings, converted later)."""
    merged = {section: dict(raw.get(section) or {}) for section in _SCALAR_KEYS}
    merged["sites"] = {name: dict(v) for name, v in (raw.get("sites") or {}).items()}
    tokens = merged["api"].pop("tokens", None) or {}
    if not isinstance(tokens, dict):
        raise ConfigError("api.tokens: expected a table of tokens")
    merged["tokens"] = {name: dict(v) for name, v in tokens.items()}
    _merge_token_env(merged["tokens"], env)
    retention = raw.get("retention") or {}
    if not isinstance(retention, dict):
        raise ConfigError("retention: expected a table of durations ([retention])")
    merged["retention"] = dict(retention)
    retention_prefix = env_name("retention") + "_"
    for var, text in env.items():
        if var.startswith(retention_prefix):
            # Unknown names reach settings_from, which names them as retention.<key>.
            merged["retention"][var[len(retention_prefix) :].lower()] = text
    for section, keys in _SCALAR_KEYS.items():
        for key in keys:
            if (value := env.get(env_name(section, key))) is not None:
                merged[section][key] = ("env", value)
    prefix = env_name("sites") + "_"
    for var, value in env.items():
        if not var.startswith(prefix):
            continue
        rest = var[len(prefix) :]
        for key in sorted(_KAFKA_KEYS, key=len, reverse=True):
            suffix = "_" + key.upper()
            if rest.endswith(suffix) and len(rest) > len(suffix):
                site_part = rest[: -len(suffix)]
                site = next(
                    (n for n in merged["sites"] if env_name(n)[8:] == site_part), site_part.lower()
                )
                merged["sites"].setdefault(site, {})[key] = ("env", value)
                break
        else:
            raise ConfigError(f"{var}: no such setting (expected {prefix}<SITE>_<KEY>)")
    return merged


def _merge_token_env(tokens: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    prefix = env_name("api", "tokens") + "_"
    for var, value in env.items():
        if not var.startswith(prefix):
            continue
        rest = var[len(prefix) :]
        for key in ("SHA256", "SCOPES", "SITES"):
            if rest.endswith("_" + key) and len(rest) > len(key) + 1:
                name_part = rest[: -len(key) - 1]
                name = next((n for n in tokens if env_name(n)[8:] == name_part), name_part.lower())
                tokens.setdefault(name, {})[key.lower()] = value
                break
        else:
            raise ConfigError(
                f"{var}: no such setting (expected {prefix}<NAME>_SHA256|SCOPES|SITES)"
            )


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> NodeConfig:
    """Read a node's TOML file, apply environment overrides, validate; ConfigError if wrong."""
    raw = _read_file(Path(path))
    unknown = sorted(set(raw) - {*_SCALAR_KEYS, "sites", "retention"})
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}]")
    merged = _merge_env(raw, os.environ if env is None else env)
    values: dict[str, Any] = {}
    for section, keys in _SCALAR_KEYS.items():
        extra = sorted(set(merged[section]) - set(keys))
        if extra:
            raise ConfigError(f"unknown key {section}.{extra[0]}")
        for key, kind in keys.items():
            value = merged[section].get(key, _DEFAULTS.get(section, {}).get(key))
            if value is None:
                raise ConfigError(f"missing key {section}.{key} (or {env_name(section, key)})")
            from_env = isinstance(value, tuple)
            values[key] = _convert(
                f"{section}.{key}", value[1] if from_env else value, kind, from_env
            )
    sites = {name: _kafka(name, entries) for name, entries in merged["sites"].items()}
    try:
        values["tokens"] = tuple(
            parse_token(name, entries) for name, entries in sorted(merged["tokens"].items())
        )
    except TokenConfigError as exc:
        raise ConfigError(str(exc)) from None
    try:
        policy, interval = settings_from(merged["retention"])
    except RetentionError as exc:
        raise ConfigError(str(exc)) from None
    values["retention"], values["retention_check_interval"] = policy, interval / 1e6
    return _validated(values, sites)


def _kafka(name: str, entries: dict[str, Any]) -> KafkaSettings:
    try:
        check_site_name(name)
    except InvalidEventError as exc:
        raise ConfigError(f"[sites.{name}]: {exc}") from None
    kwargs = {}
    for key, value in entries.items():
        if key not in _KAFKA_KEYS:
            raise ConfigError(f"unknown key sites.{name}.{key}")
        from_env = isinstance(value, tuple)
        kwargs[key] = _convert(
            f"sites.{name}.{key}", value[1] if from_env else value, _KAFKA_KEYS[key], from_env
        )
    if "bootstrap_servers" not in kwargs:
        raise ConfigError(f"missing key sites.{name}.bootstrap_servers")
    try:
        return KafkaSettings(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"sites.{name}: {exc}") from None


def _validated(values: dict[str, Any], sites: dict[str, KafkaSettings]) -> NodeConfig:
    if not 0 < values["lease_request_period"] <= 86_400:
        raise ConfigError("pools.lease_request_period: expected 0 < seconds <= 86400")
    if not 0 <= values["network_latency"] <= 3_600:
        raise ConfigError("pools.network_latency: expected 0 <= seconds <= 3600")
    if values["role"] not in ROLES:
        raise ConfigError(f"node.role: {values['role']!r} is not one of {', '.join(ROLES)}")
    try:
        check_site_name(values["site"])
    except InvalidEventError as exc:
        raise ConfigError(f"node.site: {exc}") from None
    values["role"] = NodeRole(values["role"])
    if values["role"] is NodeRole.CENTRAL and values["site"] != CENTRAL:
        raise ConfigError(
            f"node.site: a central node writes to site 'central', not {values['site']!r}"
        )
    for needed in {CENTRAL, values["site"]}:
        if needed not in sites:
            raise ConfigError(f"missing section [sites.{needed}] (the node follows it)")
    return NodeConfig(sites=sites, **values)
