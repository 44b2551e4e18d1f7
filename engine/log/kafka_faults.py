"""Why a Kafka client failed, in sitelog's words: ``engine.log.kafka``'s error boundary.

:func:`translated` turns an aiokafka error into a :class:`LogError` with its policy;
:func:`why_unreachable` finds the cause aiokafka's bootstrap hides. It logs each failed
attempt and raises "Unable to bootstrap", so each bootstrap server is connected to
once more, directly, as the bootstrap does (ApiVersions, SASL, Metadata), and the error
met there is named:

- TLS certificate verify failed (a wrong ``ssl_cafile``, a certificate for another
  name): BrokerRefusedError;
- SASL authentication failed (user, password or mechanism), a SASL client on a listener
  without SASL: BrokerRefusedError;
- a plaintext client on a TLS port: the broker drops the connection at the first
  request; when the port then completes a TLS handshake, BrokerRefusedError saying it
  may expect TLS (a TLS client on a plaintext port likewise, when the port answers in
  the clear); a client without SASL on a SASL listener: dropped before Metadata;
- refused, reset, silent: BrokerUnavailableError, retried (brokers come back).

BrokerRefusedError is not retriable: waiting will not fix a certificate or a password.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka import errors as kafka_errors
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from engine.errors import BrokerRefusedError, BrokerUnavailableError, LogError
from engine.log.kafka_settings import KafkaSettings, reason

__all__ = ["metadata_once", "translated", "why_unreachable"]

# A diagnosis follows a failure already waited for: it may add this much, no more.
_PROBE_SECONDS = 5.0
_SASL_REFUSALS = (kafka_errors.SaslAuthenticationFailed, kafka_errors.AuthenticationFailedError)


def translated(exc: KafkaError, what: str, settings: KafkaSettings | None = None) -> LogError:
    """sitelog's error for an aiokafka error met while doing ``what``, with its policy:
    SASL refusals are BrokerRefusedError; others keep aiokafka's ``retriable``."""
    message = _kafka_message(exc)
    user = f" as {settings.sasl_username!r}" if settings is not None else ""
    mechanism = f" ({settings.sasl_mechanism or 'PLAIN'})" if settings is not None else ""
    if isinstance(exc, _SASL_REFUSALS):
        return BrokerRefusedError(f"{what}: SASL authentication failed{user}{mechanism}: {message}")
    if isinstance(exc, kafka_errors.IllegalSaslStateError):
        return BrokerRefusedError(
            f"{what}: the broker refused the SASL handshake: the listener does not take SASL "
            "(try security_protocol SSL or PLAINTEXT)"
        )
    if isinstance(exc, kafka_errors.UnsupportedSaslMechanismError):
        return BrokerRefusedError(f"{what}: {message}")
    if isinstance(exc, KafkaConnectionError):
        return BrokerUnavailableError(f"{what}: brokers unreachable ({message})")
    return LogError(f"{what}: {type(exc).__name__}: {exc}", retriable=exc.retriable)


def _kafka_message(exc: KafkaError) -> str:
    """The text of an aiokafka error: the broker's own message when it sent one."""
    if (
        isinstance(exc, kafka_errors.BrokerResponseError)
        and exc.args
        and isinstance(exc.args[0], str)
    ):
        return exc.args[0]
    return str(exc) or type(exc).__name__


async def why_unreachable(settings: KafkaSettings, what: str) -> LogError:
    """Why a client of ``settings`` could not bootstrap: each bootstrap server is
    connected to once more, directly (all at once, each within a few seconds), and
    the first cause retrying cannot fix is returned, else the first other cause."""
    hosts = [(host, port) for host, port, _family in collect_hosts(settings.bootstrap_servers)]
    causes = await asyncio.gather(*(_connect_once(settings, h, p, what) for h, p in hosts))
    found = [cause for cause in causes if cause is not None]
    refused = [cause for cause in found if not cause.retriable]
    if refused or found:
        return (refused or found)[0]
    # Every server answered now: the failure passed meanwhile.
    return BrokerUnavailableError(f"{what}: brokers unreachable (for a moment)")


async def metadata_once(
    settings: KafkaSettings, host: str, port: int, seconds: float, reached: list[str] | None = None
) -> Any:
    """aiokafka's Metadata response of ``host:port``, over one connection made as the
    bootstrap makes it (TLS, ApiVersions, SASL), within ``seconds``; aiokafka's errors
    as they come. ``reached`` gets ``"connected"`` once logged in."""
    kwargs = settings.client_kwargs()
    kwargs.pop("bootstrap_servers")
    kwargs["request_timeout_ms"] = int(seconds * 1000)
    async with asyncio.timeout(seconds):
        connection = await create_conn(host, port, **kwargs)
        if reached is not None:
            reached.append("connected")
        try:
            return await connection.send(MetadataRequest([]))
        finally:
            connection.close()


async def _connect_once(
    settings: KafkaSettings, host: str, port: int, what: str
) -> LogError | None:
    """Connect, log in and ask Metadata as aiokafka's bootstrap does; the error met, named."""
    seconds = min(settings.connect_timeout, _PROBE_SECONDS)
    where = f"{host}:{port}"
    reached: list[str] = []
    try:
        await metadata_once(settings, host, port, seconds, reached)
        return None
    except ssl.SSLCertVerificationError as exc:
        authority = settings.ssl_cafile or "the system's CAs"
        return BrokerRefusedError(
            f"{what}: TLS certificate verify failed for {where}: {exc.verify_message}; "
            f"{authority} (ssl_cafile) does not vouch for the broker's certificate"
        )
    except (ssl.SSLError, ConnectionResetError) as exc:
        if settings.uses_tls and await _speaks_plaintext(host, port, seconds):
            return BrokerRefusedError(
                f"{what}: TLS handshake failed: {where} speaks plaintext Kafka, not TLS "
                "(set security_protocol to PLAINTEXT or SASL_PLAINTEXT)"
            )
        if isinstance(exc, ssl.SSLError):
            return BrokerRefusedError(f"{what}: TLS handshake with {where} failed: {reason(exc)}")
        return BrokerUnavailableError(f"{what}: brokers unreachable ({where}: {reason(exc)})")
    except KafkaConnectionError as exc:
        stage = "metadata" if reached else "connecting"
        return await _closed(settings, host, port, what, stage, exc)
    except TimeoutError:
        return BrokerUnavailableError(
            f"{what}: brokers unreachable ({where}: no answer within {seconds:g}s)"
        )
    except OSError as exc:
        return BrokerUnavailableError(f"{what}: brokers unreachable ({where}: {reason(exc)})")
    except KafkaError as exc:
        return translated(exc, what, settings)


async def _closed(
    settings: KafkaSettings,
    host: str,
    port: int,
    what: str,
    stage: str,
    exc: KafkaConnectionError,
) -> LogError:
    """The broker dropped the connection: a plaintext client on a TLS port (it drops the
    first request, which is no TLS record), or a client that skipped SASL on a SASL
    listener (it drops the first request after ApiVersions); else it is just away."""
    where = f"{host}:{port}"
    tls_port = stage == "connecting" and not settings.uses_tls
    seconds = min(settings.connect_timeout, _PROBE_SECONDS)
    if tls_port and await _completes_tls_handshake(host, port, seconds):
        return BrokerRefusedError(
            f"{what}: the broker dropped the connection at the first request: {where} "
            "may expect TLS (it completes a TLS handshake); set security_protocol to "
            "SSL or SASL_SSL"
        )
    if (
        stage == "metadata"
        and not settings.uses_sasl
        and await _drops_metadata(settings, host, port)
    ):
        return BrokerRefusedError(
            f"{what}: the broker dropped the connection before answering Metadata: {where} "
            "may expect SASL authentication (set security_protocol to SASL_SSL or "
            "SASL_PLAINTEXT with sasl_username and sasl_password)"
        )
    return BrokerUnavailableError(f"{what}: brokers unreachable ({_kafka_message(exc)})")


async def _drops_metadata(settings: KafkaSettings, host: str, port: int) -> bool:
    """Whether ``host:port`` drops a second connection before Metadata too: a SASL
    listener always does; a broker shutting down did so once (and is only away)."""
    reached: list[str] = []
    seconds = min(settings.connect_timeout, _PROBE_SECONDS)
    try:
        await metadata_once(settings, host, port, seconds, reached)
    except KafkaConnectionError:
        return bool(reached)
    except (OSError, TimeoutError, KafkaError):
        return False
    return False


async def _completes_tls_handshake(host: str, port: int, seconds: float) -> bool:
    """Whether ``host:port`` completes a TLS handshake (certificate not checked: this only
    asks which protocol the port speaks)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(seconds):
            _reader, writer = await asyncio.open_connection(host, port, ssl=context)
        writer.close()
        return True
    except (OSError, TimeoutError):
        return False


async def _speaks_plaintext(host: str, port: int, seconds: float) -> bool:
    """Whether ``host:port`` answers an ApiVersions request sent in the clear."""
    try:
        async with asyncio.timeout(seconds):
            connection = await create_conn(host, port, request_timeout_ms=int(seconds * 1000))
        connection.close()
        return True
    except (OSError, TimeoutError, KafkaError):
        return False
