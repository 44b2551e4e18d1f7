"""The problems page's filter and its URL, without a server: a filter read from a URL and
written back into one is the same filter, whatever it holds; a form's repeated boxes
become the API's comma lists; what the list does not know is refused, naming it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from engine.api.errors import ApiError
from engine.web.problems import FILTERS, filter_of, link, since

_values = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20
).filter(lambda v: v.strip() == v and v != "")


@given(st.dictionaries(st.sampled_from(FILTERS), _values))
def test_a_filter_survives_its_url(filter_: dict[str, str]) -> None:
    url = link(filter_)
    query = MultiDict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert filter_of(query) == filter_


def test_boxes_become_comma_lists_and_empty_choices_vanish() -> None:
    query = MultiDict(
        [("state", "CRITICAL"), ("state", "DOWN"), ("site", ""), ("q", " web "), ("handled", "")]
    )
    assert filter_of(query) == {"state": "CRITICAL,DOWN", "q": "web"}
    assert link({"state": "CRITICAL,DOWN"}, cursor="abc") == "/?state=CRITICAL%2CDOWN&cursor=abc"
    assert link({"cursor": "abc"}, cursor=None) == "/"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("colour", "red")], "parameter 'colour': not a filter of this list"),
        ([("site", "paris"), ("site", "lyon")], "parameter 'site': given 2 times; give it once"),
    ],
)
def test_unknown_or_repeated_parameters_are_refused(
    query: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(ApiError) as refused:
        filter_of(MultiDict(query))
    assert refused.value.status == 400 and refused.value.message.startswith(message)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59, "59 s"),
        (60, "1 min"),
        (3600, "1 h"),
        (3660, "1 h 1 min"),
        (86400, "1 d"),
        (90000, "1 d 1 h"),
    ],
)
def test_since_reads_as_an_operator_says_it(seconds: int, text: str) -> None:
    now = 1_800_000_000_000_000
    assert since(now, now - seconds * 1_000_000) == text
    assert since(now, None) == ""
