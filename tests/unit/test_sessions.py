"""Console session cookies: a session issued for a token verifies as that token until it
expires; any other value, a changed character, a removed token or a forged expiry does not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.api.sessions import SessionError, issue, verify
from engine.node.tokens import TokenBook, make_token

NOW = 1_800_000_000.0
names = st.text(min_size=1, max_size=30)


@given(name=names, ttl=st.integers(1, 10**6))
def test_a_session_verifies_as_its_token_until_it_expires(name: str, ttl: int) -> None:
    _, token = make_token(name, ["read"])
    book = TokenBook([token])
    value = issue(token, NOW, ttl)
    assert token.sha256 not in value  # the cookie does not carry the token's hash
    session = verify(value, book, NOW + ttl - 1)
    assert session.token == token and session.expires == int(NOW) + ttl
    with pytest.raises(SessionError) as expired:
        verify(value, book, NOW + ttl)
    assert expired.value.reason == "expired"


@given(name=names, position=st.integers(0, 200), replacement=st.characters())
def test_a_changed_cookie_is_refused(name: str, position: int, replacement: str) -> None:
    _, token = make_token(name, ["read"])
    value = issue(token, NOW)
    position %= len(value)
    changed = value[:position] + replacement + value[position + 1 :]
    if changed == value:
        return
    with pytest.raises(SessionError) as refused:
        verify(changed, TokenBook([token]), NOW)
    assert refused.value.reason == "invalid"


def test_a_longer_expiry_cannot_be_forged_and_a_removed_token_ends_its_sessions() -> None:
    _, token = make_token("alice", ["read"])
    value = issue(token, NOW, 60)
    name, expiry, mac = value.split(".")
    with pytest.raises(SessionError, match="not one this node issued"):
        verify(f"{name}.{int(expiry) + 3600}.{mac}", TokenBook([token]), NOW)
    _, other = make_token("alice", ["read"])  # same name, another secret
    with pytest.raises(SessionError):
        verify(value, TokenBook([other]), NOW)
    with pytest.raises(SessionError):
        verify(value, TokenBook([]), NOW)


@given(value=st.text(max_size=80))
def test_any_text_is_a_session_or_a_session_error(value: str) -> None:
    _, token = make_token("bob", ["read"])
    with pytest.raises(SessionError):
        verify(value, TokenBook([token]), NOW)
