"""Errors of the vocabulary layer, and the root of every sitelog error.

Every error sitelog raises derives from :class:`SitelogError`, so callers at a
boundary (the CLI, the HTTP API) can turn any of them into one clear line
without catching library exceptions they do not know. Library errors (aiokafka,
psycopg, fastavro) are translated into these at the adapter that meets them.

Each error carries its policy, as aiokafka's do: ``retriable`` is True when the same
operation may succeed later unchanged (a broker or a database away for a while), so
whoever meets an error retries or stops by asking it, never by the order of its
``except`` clauses. The whole tree, with the layer that defines each class
(``tests/unit/test_errors.py`` checks it against the code)::

    SitelogError
    ├── SchemaError                      schemas
    ├── InvalidEventError                schemas
    ├── DecodeError                      schemas
    ├── ProjectionReplacedError          projections  retriable
    ├── DatabaseError                    projections
    │   ├── DatabaseUnavailableError     projections  retriable
    │   └── LegacyLayoutError            projections
    ├── RetentionError                   projections
    ├── ConfigError                      engine
    │   ├── DeclarationError             engine
    │   ├── PlanError                    engine
    │   └── NagiosObjectError            engine
    ├── IngestStateError                 engine
    ├── EmbeddedServiceError             engine
    ├── LifecycleError                   engine
    ├── LogError                         engine       retriable
    │   ├── BrokerUnavailableError       engine       retriable
    │   ├── BrokerRefusedError           engine
    │   ├── LogWentBackwardsError        engine
    │   ├── LogReplacedError             engine
    │   └── LogGapError                  engine
    └── CommandError                     engine
        ├── UnknownSubjectError          engine
        ├── OutsideSubsetError           engine
        ├── CentralOnlyError             engine
        ├── SiteStoppedError             engine
        └── ConflictError                engine

A ``LogError`` translated from an aiokafka error takes that error's own ``retriable``.
"""

from __future__ import annotations


class SitelogError(Exception):
    """Root of all sitelog errors. ``str(err)`` is one line meant for a human."""

    #: Whether the same operation may succeed if tried again later, unchanged.
    retriable: bool = False


class SchemaError(SitelogError):
    """A schema file is missing or invalid (a packaging bug, not user input)."""


class InvalidEventError(SitelogError, ValueError):
    """An event was built or encoded with values that the schema rejects."""


class DecodeError(SitelogError):
    """Bytes read from a log could not be turned into an event.

    ``reason`` is a short machine-friendly tag (``bad-magic``,
    ``unknown-fingerprint``, ``bad-body``, ``bad-value``) stored with the dead letter;
    the message says what exactly was wrong.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
