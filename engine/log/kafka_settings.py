"""``KafkaSettings``: how to reach one site's Kafka cluster (TLS, SASL), checked when built.

The fields are a node's ``[sites.NAME]`` keys (``engine.node.config``) and the
producing commands' options (``engine.commands.kafka_options``). A setting its
``security_protocol`` would ignore, a SASL protocol without credentials, an unknown
mechanism or a certificate file that does not load is a ConfigError naming it, before
any connection. Re-exported by ``engine.log.kafka``, where the clients are made.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError

__all__ = ["KafkaSettings", "reason"]

_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
# What a username and password log in with; GSSAPI and OAUTHBEARER need more than
# these settings carry.
_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TLS_FIELDS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password")
_SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password")


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach one site's Kafka cluster. Passed through to every aiokafka client.

    TLS (``SSL``, ``SASL_SSL``) verifies the brokers' certificates against ``ssl_cafile``
    (else the system's CAs) and their host names; ``ssl_certfile``/``ssl_keyfile`` are a
    client certificate for brokers that ask for one. SASL (``SASL_PLAINTEXT``,
    ``SASL_SSL``) logs in as ``sasl_username`` with ``sasl_mechanism`` (``PLAIN``,
    ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``; default ``PLAIN``). Checked when built: a
    setting the protocol would ignore, or a certificate file that does not load, is a
    ConfigError naming it.
    """

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    client_id: str = "sitelog"
    #: Seconds to reach the brokers (start-up, topic creation) before giving up.
    connect_timeout: float = 10.0
    #: Seconds a produce request may wait for its acknowledgement.
    request_timeout: float = 30.0
    #: Replication factor of topics sitelog creates (-1: the broker's default).
    replication_factor: int = 1

    def __post_init__(self) -> None:
        if not self.bootstrap_servers.strip():
            raise ConfigError("kafka bootstrap_servers is empty")
        if self.security_protocol not in _SECURITY_PROTOCOLS:
            raise ConfigError(
                f"kafka security_protocol {self.security_protocol!r} is not one of "
                + ", ".join(_SECURITY_PROTOCOLS)
            )
        self._check_unused(_TLS_FIELDS, _TLS_PROTOCOLS, "TLS")
        self._check_unused(_SASL_FIELDS, _SASL_PROTOCOLS, "SASL")
        if self.uses_sasl:
            if self.sasl_mechanism is not None and self.sasl_mechanism not in _SASL_MECHANISMS:
                raise ConfigError(
                    f"kafka sasl_mechanism {self.sasl_mechanism!r} is not one of "
                    + ", ".join(_SASL_MECHANISMS)
                )
            missing = [f for f in ("sasl_username", "sasl_password") if not getattr(self, f)]
            if missing:
                raise ConfigError(
                    f"kafka security_protocol {self.security_protocol} needs "
                    + " and ".join(missing)
                )
        # Built once, here: a file that does not load is named at configuration time,
        # and every client of these settings shares one context.
        context = self._ssl_context() if self.uses_tls else None
        object.__setattr__(self, "_context", context)

    # The SSL context is no field: copies and pickles carry the fields and build their own.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_context"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_context", self._ssl_context() if self.uses_tls else None)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in _TLS_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in _SASL_PROTOCOLS

    def _check_unused(self, fields: tuple[str, ...], protocols: tuple[str, ...], what: str) -> None:
        given = [f for f in fields if getattr(self, f) is not None]
        if given and self.security_protocol not in protocols:
            raise ConfigError(
                f"kafka {given[0]} is set but security_protocol {self.security_protocol} "
                f"does not use {what} (use {' or '.join(protocols)})"
            )

    def _ssl_context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"kafka ssl_cafile {self.ssl_cafile}: {reason(exc)}") from None
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError("kafka ssl_keyfile is set without ssl_certfile")
        if self.ssl_certfile is not None:
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, self.ssl_password)
            except (OSError, ssl.SSLError) as exc:
                files = ", ".join(f for f in (self.ssl_certfile, self.ssl_keyfile) if f)
                raise ConfigError(
                    f"kafka ssl_certfile/ssl_keyfile ({files}): {reason(exc)}"
                ) from None
        return context

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments common to aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "client_id": self.client_id,
            "request_timeout_ms": int(self.request_timeout * 1000),
        }
        if self.uses_tls:
            kwargs["ssl_context"] = self._context  # type: ignore[attr-defined]
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs


def reason(exc: BaseException) -> str:
    """The cause of an OSError or SSLError, without its errno and file decoration."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} ({exc.library})" if exc.library else str(exc.reason)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"  # asyncio's strerror repeats the address
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
