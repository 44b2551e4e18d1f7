"""Console sessions: an API token exchanged for a signed, expiring cookie (pure, no I/O).

The cookie holds the token's name, the session's expiry and an HMAC-SHA256 of both keyed
by the token's stored hash, never the token's secret. The node keeps no session table:
a session survives a node restart, ends at its expiry, and ends at once when its token is
removed from the node's configuration. Forging one needs the token's hash, which only
the node's configuration holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from engine.node.tokens import ApiToken, TokenBook

__all__ = ["COOKIE", "DEFAULT_TTL", "Session", "SessionError", "issue", "verify"]

#: The cookie's name.
COOKIE = "sitelog_session"
#: How long a session lasts (seconds): a working day.
DEFAULT_TTL = 8 * 3600


class SessionError(Exception):
    """A cookie that is not a valid session; ``reason`` is ``invalid`` or ``expired``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Session:
    token: ApiToken
    #: Unix time (seconds) the session ends.
    expires: int


def _mac(token: ApiToken, expires: int) -> str:
    key = bytes.fromhex(token.sha256)
    message = f"{token.name}|{expires}".encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue(token: ApiToken, now: float, ttl: int = DEFAULT_TTL) -> str:
    """The cookie value of a new session of ``token``, ending ``ttl`` seconds after ``now``."""
    expires = int(now) + ttl
    return f"{_encoded(token.name)}.{expires}.{_mac(token, expires)}"


def _encoded(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8", "surrogatepass")).decode()


def verify(value: str, tokens: TokenBook, now: float) -> Session:
    """The session a cookie value holds; SessionError if it is not valid (any more)."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit():
        raise SessionError("invalid", "the session cookie is not one this node issued")
    encoded, expiry, mac = parts
    try:
        name = base64.urlsafe_b64decode(encoded.encode("ascii")).decode("utf-8", "surrogatepass")
    except (binascii.Error, UnicodeError, ValueError):
        raise SessionError("invalid", "the session cookie is not one this node issued") from None
    # Base64 is malleable (the spare bits of the last character, missing padding): only
    # the one encoding this node writes is accepted, so a changed cookie never passes.
    if _encoded(name) != encoded:
        raise SessionError("invalid", "the session cookie is not one this node issued")
    token = tokens.named(name)
    expires = int(expiry)
    # Bytes: compare_digest refuses str with non-ASCII characters (a forged cookie may hold any).
    presented = mac.encode("utf-8", "surrogatepass")
    if token is None or not hmac.compare_digest(_mac(token, expires).encode(), presented):
        raise SessionError("invalid", "the session cookie is not one this node issued")
    if expires <= now:
        raise SessionError("expired", "the session expired; sign in again")
    return Session(token, expires)
