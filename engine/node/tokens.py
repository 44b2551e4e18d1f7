"""API bearer tokens: what a node's configuration stores about them, and checking one.

A token is a random secret shown once to its holder; the node keeps only its SHA-256.
A plain hash suffices (no salt, no slow KDF) because the secret is 32 random bytes,
not a password a person chose: there is nothing to guess. Each token has a name (the
default author of the commands given with it), scopes, and optionally the sites whose
subjects it may read and act on.

Scopes: ``read`` (queries, stream), ``operate`` (operator commands: acknowledgements,
downtimes, comments, check reschedules), ``admin`` (configuration, central only).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SCOPES = ("read", "operate", "admin")
_HEX = frozenset("0123456789abcdef")


class TokenConfigError(ValueError):
    """A token's settings are wrong; the message names the setting."""


@dataclass(frozen=True)
class ApiToken:
    name: str
    sha256: str
    scopes: frozenset[str]
    #: The sites whose subjects the token may see and act on; None: all the node holds.
    sites: frozenset[str] | None = None

    def allows_site(self, site: str) -> bool:
        return self.sites is None or site in self.sites


def new_secret() -> str:
    """A fresh token secret (URL-safe text, 256 bits of randomness)."""
    return "slt_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The SHA-256 of a secret's UTF-8, for any text at all.

    ``surrogatepass``: a header that is not UTF-8 reaches us with its bytes escaped as
    lone surrogates (aiohttp decodes so), which plain UTF-8 cannot encode; hashed this
    way such a secret is merely unknown. Valid text hashes exactly as UTF-8.
    """
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def make_token(
    name: str, scopes: Iterable[str], sites: Iterable[str] | None = None
) -> tuple[str, ApiToken]:
    """A new secret and the token the node stores for it."""
    secret = new_secret()
    return secret, ApiToken(
        name, hash_secret(secret), frozenset(scopes), None if sites is None else frozenset(sites)
    )


def parse_token(name: str, entries: Mapping[str, object]) -> ApiToken:
    """A token from its ``[api.tokens.NAME]`` table; TokenConfigError names a bad key."""
    where = f"api.tokens.{name}"
    unknown = sorted(set(entries) - {"sha256", "scopes", "sites"})
    if unknown:
        raise TokenConfigError(f"unknown key {where}.{unknown[0]}")
    digest = entries.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
        raise TokenConfigError(f"{where}.sha256: expected 64 lower-case hex digits")
    scopes = _names(entries.get("scopes"), f"{where}.scopes")
    if not scopes:
        raise TokenConfigError(f"{where}.scopes: give at least one of {', '.join(SCOPES)}")
    if bad := sorted(set(scopes) - set(SCOPES)):
        raise TokenConfigError(f"{where}.scopes: {bad[0]!r} is not one of {', '.join(SCOPES)}")
    sites = entries.get("sites")
    return ApiToken(
        name,
        digest,
        frozenset(scopes),
        None if sites is None else frozenset(_names(sites, f"{where}.sites")),
    )


def _names(value: object, where: str) -> list[str]:
    if isinstance(value, str):  # from an environment variable: comma-separated
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TokenConfigError(f"{where}: expected a list of strings")
    return list(value)


class TokenBook:
    """The tokens a node accepts, looked up by the hash of the presented secret."""

    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self._by_hash = {t.sha256: t for t in tokens}
        self._by_name = {t.name: t for t in self._by_hash.values()}

    def named(self, name: str) -> ApiToken | None:
        """The token called ``name`` (a console session names its token)."""
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self._by_hash)

    def find(self, secret: str) -> ApiToken | None:
        presented = hash_secret(secret)
        token = self._by_hash.get(presented)
        # The dictionary lookup is on a hash of the secret, so its timing says nothing
        # useful about the secret; the final comparison is constant-time anyway.
        if token is not None and hmac.compare_digest(token.sha256, presented):
            return token
        return None
