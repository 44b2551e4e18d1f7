"""The API's pure parts, without a server: parameters, cursors, tokens, the change feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.api import params
from engine.api.change_feed import ChangeFeed, ChangeFilter, ResumeError
from engine.api.errors import ApiError
from engine.errors import ConfigError
from engine.node import config as node_config
from engine.node.tokens import TokenBook, hash_secret, make_token
from projections.rows import StateRow
from projections.state import Changes
from projections.tables import STATES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999))
def test_instants_from_rfc3339_and_integers_agree(micros: int) -> None:
    moment = EPOCH + timedelta(microseconds=micros)
    assert params.instant(moment.isoformat(), "at") == micros
    assert params.instant(moment.astimezone().isoformat(), "at") == micros  # any zone
    assert params.instant(str(micros), "at") == micros == params.instant(micros, "at")


@pytest.mark.parametrize(
    "bad", ["yesterday", "2026-11-22T10:00:00", "-5", True, 1.5, None, "9" * 30]
)
def test_bad_instants_name_the_parameter(bad: object) -> None:
    with pytest.raises(ApiError) as raised:
        params.instant(bad, "at")
    assert raised.value.status == 400 and "'at'" in raised.value.message


sort_keys = st.tuples(st.integers(-(2**62), 2**62), st.text(), st.text()).filter(
    lambda k: "\x00" not in k[1] + k[2]
)


@given(sort_keys)
def test_cursors_round_trip(key: tuple[int, str, str]) -> None:
    cursor = params.encode_cursor("state", key)
    assert params.decode_cursor(cursor, "state", (int, str, str)) == key


@given(st.text(max_size=60))
def test_any_text_as_cursor_is_a_400_or_a_key(text: str) -> None:
    try:
        key = params.decode_cursor(text, "name", (str, str))
    except ApiError as exc:
        assert exc.status == 400
    else:
        assert len(key) == 2 and all(isinstance(k, str) for k in key)


def test_cursor_of_another_sort_is_refused() -> None:
    with pytest.raises(ApiError, match="sort 'name'"):
        params.decode_cursor(params.encode_cursor("name", ("a", "b")), "state", (int, str, str))


def test_choices_take_names_or_codes() -> None:
    allowed = {"OK": 0, "WARNING": 1, "CRITICAL": 2}
    assert params.choices("critical, 1", "state", allowed) == [1, 2]
    with pytest.raises(ApiError, match="'purple' is not one of OK, WARNING, CRITICAL"):
        params.choices("ok,purple", "state", allowed)


def test_token_book_finds_by_secret_only() -> None:
    secret, token = make_token("alice", ["read", "operate"], ["paris"])
    book = TokenBook([token])
    assert book.find(secret) is token
    assert book.find(secret + "x") is None and book.find("") is None
    assert token.sha256 == hash_secret(secret) and secret not in repr(token)
    assert token.allows_site("paris") and not token.allows_site("lyon")


def test_tokens_from_file_and_environment(tmp_path: Path) -> None:
    _, alice = make_token("alice", ["read"])
    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\nname = "c"\nrole = "central"\nsite = "central"\n'
        '[database]\ndsn = "postgresql:///x"\n'
        '[sites.central]\nbootstrap_servers = "k:9092"\n'
        f'[api.tokens.alice]\nsha256 = "{alice.sha256}"\nscopes = ["read"]\n'
    )
    _, bob = make_token("bob", ["read", "operate"])
    env = {
        "SITELOG_API_TOKENS_BOB_SHA256": bob.sha256,
        "SITELOG_API_TOKENS_BOB_SCOPES": "read,operate",
        "SITELOG_API_TOKENS_BOB_SITES": "paris",
    }
    config = node_config.load(path, env)
    by_name = {t.name: t for t in config.tokens}
    assert by_name["alice"] == alice
    assert by_name["bob"].scopes == frozenset({"read", "operate"})
    assert by_name["bob"].sites == frozenset({"paris"})

    for extra, message in [
        ({"SITELOG_API_TOKENS_BOB_SCOPES": "read,root"}, "'root' is not one of"),
        ({"SITELOG_API_TOKENS_BOB_SHA256": "abc"}, "api.tokens.bob.sha256"),
        ({"SITELOG_API_TOKENS_BOB_COLOUR": "x"}, "SITELOG_API_TOKENS_BOB_COLOUR"),
    ]:
        with pytest.raises(ConfigError, match=message):
            node_config.load(path, env | extra)


def state_row(host: str, state: int, site: str = "paris") -> StateRow:
    return StateRow(
        host,
        "cpu",
        site,
        state,
        1,
        1,
        3,
        "out",
        "",
        "",
        0,
        0.0,
        0.0,
        "",
        0,
        None,
        None,
        b"v",
        b"c",
        None,
    )


def publish(feed: ChangeFeed, rows: list[StateRow]) -> None:
    changes = Changes()
    for row in rows:
        changes.put(STATES, (row.host_name, row.service_description), row)
    feed.publish(changes)


@given(
    st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=20),
    st.integers(min_value=3, max_value=40),
    st.data(),
)
def test_feed_resumes_exactly_after_the_last_id(
    batches: list[int], capacity: int, data: st.DataObject
) -> None:
    feed = ChangeFeed(capacity)
    count = 0
    for size in batches:
        publish(feed, [state_row(f"h{count + i}", i % 4) for i in range(size)])
        count += size
    seen = data.draw(st.integers(min_value=0, max_value=count))
    if count - seen <= capacity:
        start = feed.resume_point(feed.id_of(seen))
        missed = feed.after(start)
        assert [c.seq for c in missed] == list(range(seen + 1, count + 1))
        assert [c.row.host_name for c in missed] == [f"h{i}" for i in range(seen, count)]
    else:
        with pytest.raises(ResumeError, match="no longer kept"):
            feed.resume_point(feed.id_of(seen))


def test_feed_refuses_other_epochs_and_the_future() -> None:
    feed = ChangeFeed(10)
    publish(feed, [state_row("a", 2)])
    with pytest.raises(ResumeError, match="not from this node"):
        feed.resume_point("cafebabe-1")
    with pytest.raises(ResumeError, match="ahead"):
        feed.resume_point(feed.id_of(5))


def test_change_filter() -> None:
    feed = ChangeFeed(10)
    publish(feed, [state_row("a", 2), state_row("b", 0), state_row("c", 2, "lyon")])
    changes = feed.after(0)
    critical_paris = ChangeFilter(sites=frozenset({"paris"}), states=frozenset({2}))
    assert [c.row.host_name for c in changes if critical_paris.matches(c)] == ["a"]
    assert [c.row.host_name for c in changes if ChangeFilter(host="b").matches(c)] == ["b"]
    assert not ChangeFilter(kinds=frozenset({"comment"})).matches(changes[0])
    assert changes[0].data.startswith(b'{"host":"a"')
