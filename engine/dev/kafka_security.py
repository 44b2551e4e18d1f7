"""TLS and SASL SCRAM-SHA-256 on an embedded Apache Kafka's client listener.

``ApacheKafka(security=KafkaSecurity())`` serves TLS only (listener ``SSL``);
``KafkaSecurity(users={"poller": "secret"})`` serves SASL_SSL with those SCRAM-SHA-256
users, created when the log directory is formatted (``StorageTool format
--add-scram``), as an operator bootstraps a KRaft cluster. The broker's certificate
(SAN ``IP:127.0.0.1``) is signed by a CA made at first start in the broker's directory
(:mod:`engine.dev.tls`); clients trust that CA (``ApacheKafka.ca_file``), and
``ApacheKafka.client_settings()`` gives the :class:`KafkaSettings` of a client that
gets in. The controller listener stays PLAINTEXT on 127.0.0.1; inter-broker traffic
uses the secured listener, as its own SCRAM user, so the client listener is the only
broker listener.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from engine.dev.tls import make_ca
from engine.log.kafka import KafkaSettings, listed_broker_ports
from schemas.errors import SitelogError

__all__ = ["SCRAM_MECHANISM", "KafkaSecurity", "TlsFiles", "secured_listener_lists_broker"]

SCRAM_MECHANISM = "SCRAM-SHA-256"
#: The SCRAM user the broker itself connects as (inter-broker traffic, the ready probe).
BROKER_USER = "sitelog-broker"
# StorageTool's --add-scram syntax has its own quoting; test credentials need none of it.
_CREDENTIAL = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class KafkaSecurity:
    """The client listener's security: TLS always; SASL SCRAM-SHA-256 when ``users``
    (name -> password) are given."""

    users: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", dict(self.users))
        for name, password in self.users.items():
            for what, text in (("name", name), ("password", password)):
                if not _CREDENTIAL.match(text):
                    raise ValueError(
                        f"SCRAM user {name!r}: the {what} must be 1-64 of A-Z a-z 0-9 . _ -"
                    )
            if name == BROKER_USER:
                raise ValueError(f"SCRAM user {name!r} is the broker's own")

    @property
    def protocol(self) -> str:
        """The listener's security protocol, and its name: ``SSL`` or ``SASL_SSL``."""
        return "SASL_SSL" if self.users else "SSL"


@dataclass(frozen=True)
class TlsFiles:
    """The broker's TLS material, in ``<broker home>/tls``."""

    ca_certificate: Path
    keystore: Path

    @classmethod
    def at(cls, directory: Path) -> TlsFiles:
        """Where the files of ``directory`` are (made or not)."""
        return cls(directory / "ca.pem", directory / "broker-keystore.pem")

    def ensure(self) -> TlsFiles:
        """Make the files if missing: a CA and a certificate for 127.0.0.1 it signs. A
        restarted broker keeps the CA its clients trust."""
        if not self.keystore.exists():
            issued = make_ca(self.keystore.parent).issue("broker")
            issued.keystore(self.keystore)
        return self


def broker_password() -> str:
    """A fresh password for :data:`BROKER_USER`, one per broker."""
    return secrets.token_urlsafe(18)


def listener_properties(
    security: KafkaSecurity, port: int, controller_port: int, tls: TlsFiles, password: str
) -> dict[str, str]:
    """What replaces the PLAINTEXT listener of ``server_properties``: the secured one."""
    name = security.protocol
    properties = {
        "listeners": f"{name}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"{name}://127.0.0.1:{port}",
        "inter.broker.listener.name": name,
        "listener.security.protocol.map": f"{name}:{name},CONTROLLER:PLAINTEXT",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(tls.keystore),
        # The broker is a client of its own listener too (inter-broker): it trusts the CA.
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tls.ca_certificate),
    }
    if security.users:
        properties |= {
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            f"listener.name.{name.lower()}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                f'{_SCRAM_LOGIN} required username="{BROKER_USER}" password="{password}";'
            ),
        }
    return properties


def scram_format_arguments(security: KafkaSecurity, password: str) -> list[str]:
    """``StorageTool format`` arguments creating every SCRAM user, the broker's included."""
    if not security.users:
        return []
    users = {BROKER_USER: password, **security.users}
    arguments = []
    for name, secret in users.items():
        arguments += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={secret}]"]
    return arguments


def client_settings(
    security: KafkaSecurity,
    bootstrap_servers: str,
    tls: TlsFiles,
    user: str | None,
    password: str | None = None,
) -> KafkaSettings:
    """Settings of a client that gets in: trusting the broker's CA and, on SASL_SSL, as
    ``user`` (default: the first one) with its password."""
    if not security.users:
        return KafkaSettings(
            bootstrap_servers, security_protocol="SSL", ssl_cafile=str(tls.ca_certificate)
        )
    name = user if user is not None else next(iter(security.users))
    secret = password if password is not None else security.users.get(name)
    if secret is None:
        raise ValueError(f"no SCRAM user {name!r} on this broker")
    return KafkaSettings(
        bootstrap_servers,
        security_protocol="SASL_SSL",
        ssl_cafile=str(tls.ca_certificate),
        sasl_mechanism=SCRAM_MECHANISM,
        sasl_username=name,
        sasl_password=secret,
    )


def secured_listener_lists_broker(settings: KafkaSettings, port: int, timeout: float) -> bool:
    """Whether 127.0.0.1:``port``, reached with ``settings`` (TLS, SASL), answers a
    Metadata request that lists a broker on ``port``: registered and unfenced.

    Asked through the aiokafka adapter (``engine.log.kafka``), which speaks TLS and
    SCRAM; on its own event loop, in a worker thread: the caller (a test fixture,
    ``sitelog demo``) may be inside a running loop or not.
    """
    probe = listed_broker_ports(settings, timeout)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="kafka-ready") as pool:
            return port in pool.submit(asyncio.run, probe).result()
    except SitelogError:
        return False
