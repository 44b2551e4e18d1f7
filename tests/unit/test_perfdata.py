"""Perfdata parsing: the guidelines' examples, every unit and edge, and rules for any input.

"The guidelines" below are the Monitoring Plugins Development Guidelines
(https://www.monitoring-plugins.org/doc/guidelines.html), sections "Threshold and ranges"
and "Performance data", whose examples are quoted where they are tested.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from projections.perfdata import (
    Metric,
    ParsedPerfdata,
    PerfdataError,
    PerfdataProblem,
    Range,
    format_perfdata,
    parse_perfdata,
)

UNITS = (
    "",
    "s",
    "ms",
    "us",
    "%",
    "B",
    "KB",
    "MB",
    "GB",
    "TB",
    "c",
    "kB",
    "KiB",
    "MiB",
    "GiB",
    "TiB",
)


def metric(
    label: str,
    value: float | None,
    unit: str = "",
    warn: str | None = None,
    crit: str | None = None,
    min: float | None = None,
    max: float | None = None,
) -> Metric:
    return Metric(
        label,
        value,
        unit,
        None if warn is None else Range.parse(warn),
        None if crit is None else Range.parse(crit),
        min,
        max,
    )


def only(text: str) -> Metric:
    """The single metric text holds, asserting nothing else came out."""
    parsed = parse_perfdata(text)
    assert parsed.errors == ()
    assert parsed.problems == ()
    assert len(parsed.metrics) == 1
    return parsed.metrics[0]


def reasons(text: str) -> list[tuple[str, str]]:
    return [(error.text, error.reason) for error in parse_perfdata(text).errors]


def status(value: float, warn: str | None, crit: str | None) -> str:
    """get_status() as the guidelines describe it: critical is tested before warning."""
    if crit is not None and Range.parse(crit).alerts(value):
        return "CRITICAL"
    if warn is not None and Range.parse(warn).alerts(value):
        return "WARNING"
    return "OK"


# --- The guidelines, "Performance data" -------------------------------------------------


def test_the_guidelines_format_line_filled_in() -> None:
    # "'label'=value[UOM];[warn];[crit];[min];[max]"
    assert only("'label'=5B;10;20;0;100") == metric("label", 5.0, "B", "10", "20", 0.0, 100.0)


def test_trailing_unfilled_semicolons_can_be_dropped() -> None:
    # "warn, crit, min or max may be null (for example, if the threshold is not defined or
    # min and max do not apply). Trailing unfilled semicolons can be dropped"
    full = only("a=1;;;;")
    assert full == metric("a", 1.0)
    assert only("a=1") == only("a=1;") == only("a=1;;") == only("a=1;;;") == full
    assert only("load1=0.5;;;0;") == metric("load1", 0.5, min=0.0)
    assert only("a=1;;5") == metric("a", 1.0, crit="5")
    assert only("a=1;;;;7") == metric("a", 1.0, max=7.0)


def test_value_may_be_a_literal_u() -> None:
    # "value may be a literal "U" instead, this would indicate that the actual value
    # couldn't be determined"
    assert only("users=U") == metric("users", None)
    assert only("users=U;5;10;0;100") == metric("users", None, "", "5", "10", 0.0, 100.0)
    rta = only("rta=Ums;100;200")
    assert (rta.value, rta.unit, rta.normalized) == (None, "ms", None)
    assert rta.to_text() == "rta=Ums;100;200"


def test_quotes_are_required_for_spaces_and_doubled_inside() -> None:
    # "the single quotes for the label are optional. Required if spaces are in the label";
    # "to specify a quote character, use two single quotes"
    assert only("'label'=1").label == "label"
    assert only("'free space'=1").label == "free space"
    assert only("'it''s'=1").label == "it's"
    assert only("'''quoted'''=1").label == "'quoted'"
    assert only("''''=1").label == "'"
    assert only("'a=b'=1").label == "a=b"
    assert only("'  padded  '=1").label == "  padded  "
    assert only("'C:\\ Label: System  Serial Number 1234'=10%").label == (
        "C:\\ Label: System  Serial Number 1234"
    )


@pytest.mark.parametrize(
    ("text", "unit", "normalized"),
    [
        # "no unit specified - assume a number (int or float) of things"
        ("5", "", 5.0),
        # "s - seconds (also us, ms)"
        ("5s", "s", 5.0),
        ("5ms", "ms", 0.005),
        ("5us", "us", 5e-06),
        # "% - percentage"
        ("5%", "%", 5.0),
        # "B - bytes (also KB, MB, TB)", binary multiples; GB is emitted by real plugins
        ("5B", "B", 5.0),
        ("5KB", "KB", 5 * 1024.0),
        ("5MB", "MB", 5 * 1024.0**2),
        ("5GB", "GB", 5 * 1024.0**3),
        ("5TB", "TB", 5 * 1024.0**4),
        # "c - a continous counter (such as bytes transmitted on an interface)"
        ("5c", "c", 5.0),
        # not in the guidelines: check_disk / check_swap print these, as 1024 multiples
        ("5kB", "kB", 5 * 1024.0),
        ("5KiB", "KiB", 5 * 1024.0),
        ("5MiB", "MiB", 5 * 1024.0**2),
        ("5GiB", "GiB", 5 * 1024.0**3),
        ("5TiB", "TiB", 5 * 1024.0**4),
    ],
)
def test_each_unit_is_kept_as_written_and_normalised(
    text: str, unit: str, normalized: float
) -> None:
    read = only(f"x={text};1;2;0;9")
    assert (read.value, read.unit, read.normalized) == (5.0, unit, normalized)
    assert read.to_text() == f"x={text};1;2;0;9"


@pytest.mark.parametrize("unit", ["kb", "Kb", "KIB", "W", "Ms", "b", "%%", "ms2", "sec", "S"])
def test_units_outside_the_list_are_errors_not_numbers_of_unknown_scale(unit: str) -> None:
    assert reasons(f"x=5{unit} y=1") == [(f"x=5{unit}", f"unknown unit {unit!r}")]


def test_hand_built_metric_with_unknown_unit_does_not_normalise() -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        _ = Metric("x", 1.0, "W", None, None, None, None).normalized


# --- Real plugin output -----------------------------------------------------------------


def test_real_plugin_lines() -> None:
    # check_ping
    ping = parse_perfdata("rta=0.897000ms;3000.000000;5000.000000;0.000000 pl=0%;80;100;0")
    assert ping == ParsedPerfdata(
        (
            metric("rta", 0.897, "ms", "3000", "5000", 0.0),
            metric("pl", 0.0, "%", "80", "100", 0.0),
        ),
        (),
    )
    # check_disk
    assert only("/=2643MB;5948;5958;0;5968") == metric(
        "/", 2643.0, "MB", "5948", "5958", 0.0, 5968.0
    )
    # Nagios::Plugin::Performance's parse_perfstring example
    disks = parse_perfdata("/=382MB;15264;15269;; /var=218MB;9443;9448")
    assert disks.metrics == (
        metric("/", 382.0, "MB", "15264", "15269"),
        metric("/var", 218.0, "MB", "9443", "9448"),
    )
    # check_load, the line the projection sees most
    load = parse_perfdata(
        "load1=0.050;5.000;10.000;0; load5=0.040;4.000;6.000;0; load15=0.010;3.000;4.000;0;"
    )
    assert load.metrics == (
        metric("load1", 0.05, "", "5", "10", 0.0),
        metric("load5", 0.04, "", "4", "6", 0.0),
        metric("load15", 0.01, "", "3", "4", 0.0),
    )
    assert format_perfdata(load.metrics) == "load1=0.05;5;10;0 load5=0.04;4;6;0 load15=0.01;3;4;0"


# --- Numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0.0),
        ("-1.5", -1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("+3", 3.0),
        ("1e-05", 1e-05),
        ("1E3", 1000.0),
        ("2.5e+2", 250.0),
        ("-0", 0.0),
    ],
)
def test_numbers_plugins_emit(text: str, value: float) -> None:
    assert only(f"x={text}").value == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x=0,5", "decimal comma in value '0,5' (C locale required)"),
        ("x=1,234.5", "decimal comma in value '1,234.5' (C locale required)"),
        ("x=inf", "bad value 'inf'"),
        ("x=nan", "bad value 'nan'"),
        ("x=-", "bad value '-'"),
        ("x=.", "bad value '.'"),
        ("x=0x10", "unknown unit 'x10'"),
        ("x=1_000", "unknown unit '_000'"),
        ("x=\u0661\u0662", "bad value '\u0661\u0662'"),  # Arabic-Indic digits
        ("x=1.2.3", "unknown unit '.3'"),
        ("x=1e999", "value '1e999' is out of the float range"),
        ("x=", "missing value"),
        ("x=;1;2", "missing value"),
        ("x=0,5;1,5", "decimal comma in value '0,5' (C locale required)"),
    ],
)
def test_bad_numbers_are_reported_with_a_reason(text: str, reason: str) -> None:
    assert reasons(text) == [(text, reason)]


@pytest.mark.parametrize(
    ("text", "field", "bad", "reason"),
    [
        ("x=1;0,5", "warn", "0,5", "decimal comma in range end '0,5' (C locale required)"),
        ("x=1;;0,5", "crit", "0,5", "decimal comma in range end '0,5' (C locale required)"),
        ("x=1;;;0,5", "min", "0,5", "decimal comma in min '0,5' (C locale required)"),
        ("x=1;;;-1e999", "min", "-1e999", "min '-1e999' is out of the float range"),
        ("x=1;;;0s", "min", "0s", "bad min '0s'"),
        ("x=1;;;;10%", "max", "10%", "bad max '10%'"),
        ("x=1;;;;;5", "extra", "5", "more than 5 fields"),
        ("x=1;;;;;5;;6", "extra", "5;;6", "more than 5 fields"),
    ],
)
def test_a_bad_threshold_or_bound_drops_only_that_field(
    text: str, field: str, bad: str, reason: str
) -> None:
    # Real plugins print thresholds the guidelines do not allow; the value is still kept.
    assert parse_perfdata(text) == ParsedPerfdata(
        (metric("x", 1.0),), (), (PerfdataProblem("x", field, bad, reason),)
    )


def test_extra_empty_trailing_fields_are_tolerated() -> None:
    assert only("x=1;2;3;4;5;;;") == metric("x", 1.0, "", "2", "3", 4.0, 5.0)


# --- Several metrics, garbage, whitespace -----------------------------------------------


def test_several_metrics_keep_their_order() -> None:
    parsed = parse_perfdata("a=1 'b c'=2s c=3%;80;90 d=U")
    assert [m.label for m in parsed.metrics] == ["a", "b c", "c", "d"]
    assert parsed.errors == ()


def test_garbage_between_good_metrics_is_reported_and_skipped() -> None:
    text = (
        "a=1 junk b=2;x c=3 =4 d=5kb e=6 'f g'=x h=7 'broken i=8 j'k=9 'l'm=10 ''=11 "
        "n=1;2;3;4;5;6 o=12"
    )
    parsed = parse_perfdata(text)
    assert [m.label for m in parsed.metrics] == ["a", "b", "c", "e", "h", "i", "n", "o"]
    assert [(p.label, p.field, p.text) for p in parsed.problems] == [
        ("b", "warn", "x"),
        ("n", "extra", "6"),
    ]
    assert [(e.text, e.reason) for e in parsed.errors] == [
        ("junk", "no '=' between label and value"),
        ("=4", "empty label"),
        ("d=5kb", "unknown unit 'kb'"),
        ("'f g'=x", "bad value 'x'"),
        ("'broken", "quoted label not followed by '='"),
        ("j'k=9", "quote inside an unquoted label"),
        ("'l'm=10", "quoted label not followed by '='"),
        ("''=11", "empty label"),
    ]


def test_an_unterminated_quote_costs_one_word_only() -> None:
    parsed = parse_perfdata("'never a=1 b=2")
    assert [m.label for m in parsed.metrics] == ["a", "b"]
    assert parsed.errors == (PerfdataError("'never", "unterminated quoted label"),)


@pytest.mark.parametrize("text", ["", " ", "   \t\n  ", "\n"])
def test_empty_and_blank_text_holds_nothing(text: str) -> None:
    assert parse_perfdata(text) == ParsedPerfdata((), ())


def test_leading_trailing_and_repeated_whitespace() -> None:
    expected = (metric("a", 1.0), metric("b", 2.0), metric("c d", 3.0))
    assert parse_perfdata("  a=1   b=2 \t 'c d'=3  ").metrics == expected
    assert parse_perfdata("\na=1\nb=2\r\n'c d'=3\n").metrics == expected  # Nagios joins lines


def test_a_quoted_label_keeps_the_whitespace_inside_it() -> None:
    assert only("'tab\there'=1").label == "tab\there"


def test_pathological_quoting_stays_linear() -> None:
    # Not a timing test: these would take minutes if a bad quote made the scan quadratic.
    for text in ["'x " + "'' " * 20000, "' " * 40000, "'a" * 40000, "'a b'c " * 20000]:
        assert parse_perfdata(text).metrics == ()


# --- The guidelines, "Threshold and ranges" ---------------------------------------------

# The table "Range definition | Generate an alert if x...", row by row, with values just
# inside, on and just outside each bound.
RANGE_TABLE = [
    # "10 | < 0 or > 10, (outside the range of {0 .. 10})"
    ("10", Range(0.0, 10.0, False), {-1e-9: True, 0: False, 5: False, 10: False, 10.001: True}),
    # "10: | < 10, (outside {10 .. ∞})"
    ("10:", Range(10.0, None, False), {9.999: True, 10: False, 1e300: False, -1e300: True}),
    # "~:10 | > 10, (outside the range of {-∞ .. 10})"
    ("~:10", Range(None, 10.0, False), {-1e300: False, 10: False, 10.001: True}),
    # "10:20 | < 10 or > 20, (outside the range of {10 .. 20})"
    (
        "10:20",
        Range(10.0, 20.0, False),
        {9.999: True, 10: False, 15: False, 20: False, 20.01: True},
    ),
    # "@10:20 | ≥ 10 and ≤ 20, (inside the range of {10 .. 20})"
    ("@10:20", Range(10.0, 20.0, True), {9.999: False, 10: True, 15: True, 20: True, 20.01: False}),
]


@pytest.mark.parametrize(("text", "expected", "alerts"), RANGE_TABLE)
def test_the_guidelines_range_table(text: str, expected: Range, alerts: dict[float, bool]) -> None:
    assert Range.parse(text) == expected
    assert str(expected) == text  # the table's forms are the canonical ones
    for value, alert in alerts.items():
        assert expected.alerts(value) is alert, value


# The table "Command line | Meaning", checked at values around each threshold.
COMMAND_LINES = [
    # "check_stuff -w10 -c20 | Critical if "stuff" is over 20, else warn if over 10 (will be
    # critical if "stuff" is less than 0)"
    (
        "10",
        "20",
        {
            25: "CRITICAL",
            20.5: "CRITICAL",
            20: "WARNING",
            10.5: "WARNING",
            10: "OK",
            0: "OK",
            -1: "CRITICAL",
        },
    ),
    # "check_stuff -w~:10 -c~:20 | Same as above. Negative "stuff" is OK"
    (
        "~:10",
        "~:20",
        {25: "CRITICAL", 20: "WARNING", 10.5: "WARNING", 10: "OK", -1: "OK", -1e9: "OK"},
    ),
    # "check_stuff -w10: -c20 | Critical if "stuff" is over 20, else warn if "stuff" is below
    # 10 (will be critical if "stuff" is less than 0)"
    (
        "10:",
        "20",
        {25: "CRITICAL", 20: "OK", 10: "OK", 9.9: "WARNING", 0: "WARNING", -1: "CRITICAL"},
    ),
    # "check_stuff -c1: | Critical if "stuff" is less than 1"
    (None, "1:", {0.5: "CRITICAL", -5: "CRITICAL", 1: "OK", 1e9: "OK"}),
    # "check_stuff -w~:0 -c10 | Critical if "stuff" is above 10; Warn if "stuff" is above zero
    # (will be critical if "stuff" is less than 0)"
    ("~:0", "10", {11: "CRITICAL", 10: "WARNING", 0.1: "WARNING", 0: "OK", -1: "CRITICAL"}),
    # "check_stuff -c5:6 | Critical if "stuff" is less than 5 or more than 6"
    (None, "5:6", {4.9: "CRITICAL", 5: "OK", 5.5: "OK", 6: "OK", 6.1: "CRITICAL"}),
    # "check_stuff -c@10:20 | OK if stuff is less than 10 or higher than 20, otherwise
    # critical"
    (None, "@10:20", {9.9: "OK", 10: "CRITICAL", 15: "CRITICAL", 20: "CRITICAL", 20.1: "OK"}),
    # Section "Plugins with more than one type of threshold": "check_procs -C httpd -w 1:20
    # -c 1:30 which will warn above 20 instances, and critical at 0 and above 30"
    (
        "1:20",
        "1:30",
        {0: "CRITICAL", 1: "OK", 20: "OK", 21: "WARNING", 30: "WARNING", 31: "CRITICAL"},
    ),
]


@pytest.mark.parametrize(("warn", "crit", "expected"), COMMAND_LINES)
def test_the_guidelines_command_line_examples(
    warn: str | None, crit: str | None, expected: dict[float, str]
) -> None:
    for value, state in expected.items():
        assert status(value, warn, crit) == state, value


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        (":10", Range(0.0, 10.0, False), "10"),  # empty start is 0, as the C reference reads it
        ("0:10", Range(0.0, 10.0, False), "10"),
        ("@10", Range(0.0, 10.0, True), "@10"),
        ("0:", Range(0.0, None, False), "0:"),
        ("~:", Range(None, None, False), "~:"),
        ("@~:", Range(None, None, True), "@~:"),
        ("-10:-5", Range(-10.0, -5.0, False), "-10:-5"),
        ("5:5", Range(5.0, 5.0, False), "5:5"),  # "start ≤ end"
        ("1e3:", Range(1000.0, None, False), "1000:"),
        ("10.500:20.0", Range(10.5, 20.0, False), "10.5:20"),
        ("@~:0.25", Range(None, 0.25, True), "@~:0.25"),
    ],
)
def test_other_range_forms_and_their_canonical_text(
    text: str, expected: Range, canonical: str
) -> None:
    assert Range.parse(text) == expected
    assert str(expected) == canonical


def test_unbounded_ranges() -> None:
    assert not Range.parse("~:").alerts(-1e308) and not Range.parse("~:").alerts(1e308)
    assert Range.parse("@~:").alerts(0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty range"),
        ("@", "empty range"),
        ("~", "'~' must be followed by ':'"),
        ("@~", "'~' must be followed by ':'"),
        ("20:10", "starts after its end"),
        ("-5", "starts after its end"),  # 0..-5
        ("1:2:3", "more than one ':'"),
        ("~:~", "bad range end '~'"),
        ("a", "bad range end 'a'"),
        ("10a:20", "bad range start '10a'"),
        (" 10", "bad range end ' 10'"),
        ("@@10", "bad range end '@10'"),
        ("10,5", "decimal comma"),
    ],
)
def test_bad_ranges_raise_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Range.parse(text)


# --- Writing ----------------------------------------------------------------------------


def test_to_text_quotes_only_when_needed_and_drops_trailing_empty_fields() -> None:
    assert metric("load1", 0.5, min=0.0).to_text() == "load1=0.5;;;0"
    assert metric("a b", 1.0, "s", "@1:2").to_text() == "'a b'=1s;@1:2"
    assert metric("it's", 1.0).to_text() == "'it''s'=1"
    assert metric("a=b", 1.0).to_text() == "'a=b'=1"
    assert metric("tab\tx", None).to_text() == "'tab\tx'=U"
    assert metric("x", 1e-05, "KB", None, "~:3", None, 1e20).to_text() == "x=1e-05KB;;~:3;;1e+20"
    assert metric("x", 2.0**60).to_text() == "x=1.152921504606847e+18"


def test_format_perfdata() -> None:
    assert format_perfdata([]) == ""
    assert format_perfdata(iter([metric("a", 1.0), metric("b c", 2.0)])) == "a=1 'b c'=2"


def test_results_are_frozen() -> None:
    read = only("a=1;2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.value = 2.0  # type: ignore[misc]
    assert read.warn is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.warn.end = 3.0  # type: ignore[misc]
    assert hash(read) == hash(metric("a", 1.0, warn="2"))


# --- Rules for any input ----------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
labels = st.one_of(
    st.text(min_size=1),
    st.text(alphabet=" '=;:@~|aU1\t\n", min_size=1),
)


@st.composite
def ranges(draw: st.DrawFn) -> Range:
    start, end = draw(st.none() | finite), draw(st.none() | finite)
    if start is not None and end is not None and start > end:
        start, end = end, start
    return Range(start, end, draw(st.booleans()))


metrics = st.builds(
    Metric,
    label=labels,
    value=st.none() | finite,
    unit=st.sampled_from(UNITS),
    warn=st.none() | ranges(),
    crit=st.none() | ranges(),
    min=st.none() | finite,
    max=st.none() | finite,
)
perfdata_like = st.text(alphabet="' =;:@~.,-+0123456789eEUsmuB%KMGTc\tx", max_size=60)


@given(st.lists(metrics, max_size=8))
def test_formatted_metrics_parse_back_to_the_same_metrics(written: list[Metric]) -> None:
    assert parse_perfdata(format_perfdata(written)) == ParsedPerfdata(tuple(written), ())


@given(ranges())
def test_a_range_reads_back_from_its_text(written: Range) -> None:
    assert Range.parse(str(written)) == written


@given(ranges(), finite)
def test_at_inverts_the_alert(written: Range, value: float) -> None:
    flipped = dataclasses.replace(written, inside=not written.inside)
    assert written.alerts(value) is not flipped.alerts(value)


@given(st.one_of(st.text(), perfdata_like))
def test_parse_never_raises_and_its_canonical_text_is_a_fixed_point(text: str) -> None:
    parsed = parse_perfdata(text)
    assert {p.label for p in parsed.problems} <= {m.label for m in parsed.metrics}
    canonical = format_perfdata(parsed.metrics)
    again = parse_perfdata(canonical)
    assert again == ParsedPerfdata(parsed.metrics, ())
    assert format_perfdata(again.metrics) == canonical


@given(st.one_of(st.text(), perfdata_like))
def test_range_parse_fails_only_with_value_error(text: str) -> None:
    try:
        read = Range.parse(text)
    except ValueError:
        return
    assert Range.parse(str(read)) == read


@given(st.text(alphabet=" =;:@~.,-0123456789eUsmB%c\t\nxy", max_size=60))
def test_the_fast_path_agrees_with_the_general_scanner(text: str) -> None:
    # A trailing stray quote sends the text through the scanner that handles quotes; it
    # must read everything before it exactly as the quote-free fast path does.
    fast, general = parse_perfdata(text), parse_perfdata(text + " '")
    assert general.metrics == fast.metrics
    assert general.problems == fast.problems
    assert general.errors == (*fast.errors, PerfdataError("'", "unterminated quoted label"))


TAIL_FIELDS = ("warn", "crit", "min", "max")
# Any character but the field separator and whitespace, which would end the field or metric.
junk = st.text(st.characters().filter(lambda c: c != ";" and not c.isspace()), min_size=1)
perfdata_junk = st.text(alphabet="0123456789.,:@~+-eEU%sBkx'=", min_size=1)


def _reads_as(field: str, text: str) -> bool:
    """Whether text is a valid value of field: a range (Range.parse) or a finite number in
    the C syntax, which is Python's decimal float syntax without '_', inf and nan."""
    if field in ("warn", "crit"):
        try:
            Range.parse(text)
        except ValueError:
            return False
        return True
    if not set(text) <= set("0123456789.+-eE"):
        return False
    try:
        return abs(float(text)) != float("inf")
    except ValueError:
        return False


def _number_text(number: float) -> str:
    return Metric("x", number, "", None, None, None, None).to_text().removeprefix("x=")


@given(metrics, st.sampled_from(TAIL_FIELDS), st.one_of(junk, perfdata_junk))
def test_junk_in_one_tail_field_drops_only_that_field(
    written: Metric, field: str, bad: str
) -> None:
    assume(not _reads_as(field, bad))
    head = dataclasses.replace(written, warn=None, crit=None, min=None, max=None).to_text()
    tail = [
        "" if written.warn is None else str(written.warn),
        "" if written.crit is None else str(written.crit),
        "" if written.min is None else _number_text(written.min),
        "" if written.max is None else _number_text(written.max),
    ]
    tail[TAIL_FIELDS.index(field)] = bad
    parsed = parse_perfdata(head + ";" + ";".join(tail))
    assert parsed.errors == ()
    kept = [None if name == field else getattr(written, name) for name in TAIL_FIELDS]
    assert parsed.metrics == (Metric(written.label, written.value, written.unit, *kept),)
    assert [(p.label, p.field, p.text) for p in parsed.problems] == [(written.label, field, bad)]
