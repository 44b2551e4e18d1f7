"""Nagios plugin performance data: parse it, check values against its thresholds, print it.

This module owns the reading and writing of the perfdata part of a check result (the text
after ``|``), following the Monitoring Plugins Development Guidelines, sections "Performance
data" and "Threshold and ranges"::

    'label'=value[UOM];[warn];[crit];[min];[max]     (space separated, one per metric)
    [@]start:end                                      (warn and crit are ranges)

It is pure: no I/O, no logging, no global state besides two bounded caches. It never raises
on an input string, and it keeps what was measured:

* A metric whose label, value or unit cannot be read is left out and reported in
  ``ParsedPerfdata.errors`` with its text and a reason (there is no number to keep); the
  other metrics still come out.
* A metric whose value and unit read but whose warn, crit, min or max does not is kept with
  that field ``None``; each dropped field is reported in ``ParsedPerfdata.problems`` with the
  metric's label, the field, its text and a reason, so a caller can count problems per
  metric. Real plugins print thresholds the guidelines do not allow (a unit on a threshold,
  a decimal comma, ``80:90:100``) while the value they measured is right; refusing the
  whole metric would lose that value over a field that only draws a line on a graph.

Choices where the guidelines are silent, loose, or disagree with what plugins emit:

* Labels: quoted labels may hold any character (spaces, ``=``); ``''`` inside them is one
  ``'``. Unquoted labels stop at the first ``=`` and may not contain ``'`` (a stray quote
  is far more likely broken quoting than part of a name). Empty labels are errors. Older
  guideline versions forbid ``=`` and ``'`` in labels outright; we accept them when quoted,
  as the quoting rule ("to specify a quote character, use two single quotes") implies.
* Separators: any whitespace (``str.isspace``), not only the space, separates metrics, as
  Nagios joins perfdata of several output lines.
* Numbers: the guidelines' class ``[-0-9.]``, plus a leading ``+`` and an exponent
  (``1e-05``), both of which the C reference (``strtod``) reads and plugins emit. ASCII
  digits only. ``inf``/``nan`` and hex are not numbers. A decimal comma (``0,5``) is never
  a guess: ``1,234`` is as likely a thousands separator as a decimal one. In the value it
  makes the metric an error; in a threshold or bound, only that field is dropped.
* Units, case-sensitive, exactly: none, ``s ms us % B KB MB TB c`` from the guidelines,
  and ``GB``, ``kB``, ``KiB MiB GiB TiB`` which check_disk, check_swap and others emit.
  Any other unit (``kb``, ``W``...) makes the metric an error rather than a number of
  unknown scale. The unit is kept as written; ``Metric.normalized`` gives seconds for time
  units, bytes for byte units, and the value itself otherwise. Byte multiples are binary
  (1 KB = 1 kB = 1 KiB = 1024 B), as check_disk computes the values it prints as kB..TB.
* ``U`` as the value means "could not be determined": ``value is None``; a unit may follow.
* min and max are plain numbers (no unit); warn and crit are ranges. A unit on either
  (``80%``, as NSClient++ prints) is not stripped: the field is dropped, since reading it
  would guess that it has the value's scale. Extra trailing empty fields (``a=1;;;;;``) are
  tolerated; extra non-empty ones are dropped as one problem of field ``"extra"``.
* Ranges: "10" is 0..10; "10:" is 10..inf; "~:10" is -inf..10; an empty start (":10") is 0,
  as in the C reference; start > end, a lone "~" and anything unparsable are not ranges
  (``Range.parse`` raises; in a metric the field is dropped).
  Bounds are inclusive: outside alerts, or inside when the range starts with ``@``.
* Canonical text: integral numbers print without a fraction, others with ``repr`` (the
  shortest text that reads back to the same float), so format -> parse is exact.
  Non-finite numbers have no perfdata text and must not be put in a ``Metric`` by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import lru_cache

__all__ = [
    "Metric",
    "ParsedPerfdata",
    "PerfdataError",
    "PerfdataProblem",
    "Range",
    "format_perfdata",
    "parse_perfdata",
]

# [0-9], not \d: \d and float() also take non-ASCII digits, which no plugin means.
_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_NUMBER_RE = re.compile(_NUMBER)
# value[UOM]: the unit is whatever follows the number, checked against _SCALE afterwards.
_VALUE_RE = re.compile(rf"({_NUMBER}|U)(.*)", re.DOTALL)
_WORD_RE = re.compile(r"\S+")
_REST_RE = re.compile(r"\S*")
_NEEDS_QUOTES_RE = re.compile(r"[\s=']")
# What float() makes of a number too large for a double (e.g. "1e999"): refused, as it has
# no perfdata text to write back.
_INFINITIES = (float("inf"), float("-inf"))

# Unit -> (multiplier, divisor) to the base unit. Dividing by 1000 rather than multiplying
# by 0.001 keeps "5ms" exactly the float nearest to 0.005 s.
_SCALE: dict[str, tuple[float, float]] = {
    "": (1.0, 1.0),
    "%": (1.0, 1.0),
    "c": (1.0, 1.0),
    "s": (1.0, 1.0),
    "ms": (1.0, 1e3),
    "us": (1.0, 1e6),
    "B": (1.0, 1.0),
    "KB": (1024.0, 1.0),
    "MB": (1024.0**2, 1.0),
    "GB": (1024.0**3, 1.0),
    "TB": (1024.0**4, 1.0),
    "kB": (1024.0, 1.0),
    "KiB": (1024.0, 1.0),
    "MiB": (1024.0**2, 1.0),
    "GiB": (1024.0**3, 1.0),
    "TiB": (1024.0**4, 1.0),
}


def _fmt(number: float) -> str:
    """Canonical text of a number: "10" rather than "10.0", else the shortest exact repr."""
    if number.is_integer() and -1e16 < number < 1e16:
        return str(int(number))
    return repr(number)


def _number(text: str, what: str) -> float:
    if _NUMBER_RE.fullmatch(text) is None:
        if "," in text:
            raise ValueError(f"decimal comma in {what} {text!r} (C locale required)")
        raise ValueError(f"bad {what} {text!r}")
    number = float(text)
    if number in _INFINITIES:
        raise ValueError(f"{what} {text!r} is out of the float range")
    return number


@dataclass(frozen=True, slots=True)
class Range:
    """A threshold range; ``None`` bounds are infinite (``~`` for the start)."""

    start: float | None
    end: float | None
    inside: bool

    @staticmethod
    def parse(text: str) -> Range:
        """Read ``[@]start:end``; raises ValueError with the reason for a bad range."""
        return _parse_range(text)

    def alerts(self, value: float) -> bool:
        """Whether value raises the alert: outside the range, or inside it with ``@``."""
        within = (self.start is None or value >= self.start) and (
            self.end is None or value <= self.end
        )
        return within if self.inside else not within

    def __str__(self) -> str:
        at = "@" if self.inside else ""
        if self.start is None:
            return f"{at}~:{'' if self.end is None else _fmt(self.end)}"
        if self.end is None:
            return f"{at}{_fmt(self.start)}:"
        if self.start == 0:
            return f"{at}{_fmt(self.end)}"  # start and ":" are not required if start=0
        return f"{at}{_fmt(self.start)}:{_fmt(self.end)}"


# Thresholds repeat across the results of a check, so parsed ranges are memoised; a
# Range is immutable, so sharing one instance is safe. Errors are not cached.
@lru_cache(maxsize=4096)
def _parse_range(text: str) -> Range:
    inside = text.startswith("@")
    body = text[1:] if inside else text
    start_text, colon, end_text = body.partition(":")
    start: float | None
    end: float | None
    if not colon:
        if not body:
            raise ValueError(f"empty range {text!r}")
        if body == "~":
            raise ValueError(f"range {text!r}: '~' must be followed by ':'")
        start, end = 0.0, _number(body, "range end")
    else:
        if ":" in end_text:
            raise ValueError(f"range {text!r} has more than one ':'")
        if start_text == "~":
            start = None
        else:
            start = _number(start_text, "range start") if start_text else 0.0
        end = _number(end_text, "range end") if end_text else None
    if start is not None and end is not None and start > end:
        raise ValueError(f"range {text!r} starts after its end")
    return Range(start, end, inside)


@dataclass(frozen=True, slots=True)
class Metric:
    """One label/value pair with its unit, thresholds and bounds; value None is ``U``."""

    label: str
    value: float | None
    unit: str
    warn: Range | None
    crit: Range | None
    min: float | None
    max: float | None

    @property
    def normalized(self) -> float | None:
        """The value in seconds (s, ms, us) or bytes (B..TB, 1024 multiples), else as is."""
        if self.value is None:
            return None
        scale = _SCALE.get(self.unit)
        if scale is None:
            raise ValueError(f"unknown unit {self.unit!r}")
        return self.value * scale[0] / scale[1]

    def to_text(self) -> str:
        """Canonical perfdata text, trailing empty fields dropped."""
        label = self.label
        if not label or _NEEDS_QUOTES_RE.search(label) is not None:
            label = "'" + label.replace("'", "''") + "'"
        value = "U" if self.value is None else _fmt(self.value)
        text = (
            f"{label}={value}{self.unit};"
            f"{'' if self.warn is None else self.warn};"
            f"{'' if self.crit is None else self.crit};"
            f"{'' if self.min is None else _fmt(self.min)};"
            f"{'' if self.max is None else _fmt(self.max)}"
        )
        return text.rstrip(";")


@dataclass(frozen=True, slots=True)
class PerfdataError:
    """A metric that could not be read (a record, not an exception): its text and why."""

    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class PerfdataProblem:
    """A field dropped from a metric that was kept: the metric's label, which field
    (``warn``, ``crit``, ``min``, ``max``, or ``extra`` for fields after the fifth), the
    field's text and why it was dropped."""

    label: str
    field: str
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedPerfdata:
    """The metrics read from a perfdata string, in order, the ones that were not, and the
    fields dropped from the metrics that were (in the order of the metrics)."""

    metrics: tuple[Metric, ...]
    errors: tuple[PerfdataError, ...]
    problems: tuple[PerfdataProblem, ...] = ()


# (field, text, reason) of a dropped field; the label is added per metric.
_Failure = tuple[str, str, str]
_Tail = tuple[Range | None, Range | None, float | None, float | None, tuple[_Failure, ...]]


def _range_field(text: str, what: str, failed: list[_Failure]) -> Range | None:
    if not text:
        return None
    try:
        return _parse_range(text)
    except ValueError as exc:
        failed.append((what, text, str(exc)))
        return None


def _number_field(text: str, what: str, failed: list[_Failure]) -> float | None:
    if not text:
        return None
    try:
        return _number(text, what)
    except ValueError as exc:
        failed.append((what, text, str(exc)))
        return None


# "warn;crit;min;max" is usually the same string for every result of a check (only the
# value moves), so its lenient parse is memoised as a whole, with the fields it dropped.
@lru_cache(maxsize=4096)
def _parse_tail(tail: str) -> _Tail:
    parts = tail.split(";")
    extra = parts[4:]
    del parts[4:]
    parts.extend([""] * (4 - len(parts)))
    warn_text, crit_text, min_text, max_text = parts
    failed: list[_Failure] = []
    warn = _range_field(warn_text, "warn", failed)
    crit = _range_field(crit_text, "crit", failed)
    low = _number_field(min_text, "min", failed)
    high = _number_field(max_text, "max", failed)
    if any(extra):
        failed.append(("extra", ";".join(extra), "more than 5 fields"))
    return warn, crit, low, high, tuple(failed)


# The frozen dataclass __init__ sets each field through object.__setattr__, which is about
# a third of the cost of a metric; the parser fills the slots directly instead. The check
# below makes a change to Metric's fields fail at import rather than build half a Metric.
_new = object.__new__
_METRIC_SLOTS = ("label", "value", "unit", "warn", "crit", "min", "max")
if tuple(field.name for field in fields(Metric)) != _METRIC_SLOTS:
    raise TypeError("Metric's fields changed: update _METRIC_SLOTS and _read_metric")
_set_label, _set_value, _set_unit, _set_warn, _set_crit, _set_min, _set_max = (
    getattr(Metric, name).__set__ for name in _METRIC_SLOTS
)


def _read_metric(label: str, text: str, problems: list[PerfdataProblem]) -> Metric:
    """Read ``value[UOM];warn;crit;min;max``; raises ValueError with the reason for a bad
    value or unit, and adds a problem to ``problems`` for each other field it drops."""
    semi = text.find(";")
    value_text = text if semi < 0 else text[:semi]
    match = _VALUE_RE.fullmatch(value_text)
    if match is None:
        if not value_text:
            raise ValueError("missing value")
        if "," in value_text:
            raise ValueError(f"decimal comma in value {value_text!r} (C locale required)")
        raise ValueError(f"bad value {value_text!r}")
    number, unit = match.groups()
    if unit not in _SCALE:
        if "," in unit:
            raise ValueError(f"decimal comma in value {value_text!r} (C locale required)")
        raise ValueError(f"unknown unit {unit!r}")
    value = None if number == "U" else float(number)
    if value in _INFINITIES:
        raise ValueError(f"value {number!r} is out of the float range")
    if semi < 0:
        warn = crit = low = high = None
    else:
        # Nothing below raises: the problems belong to a metric that is kept.
        warn, crit, low, high, failed = _parse_tail(text[semi + 1 :])
        if failed:
            problems.extend([PerfdataProblem(label, *failure) for failure in failed])
    metric: Metric = _new(Metric)
    _set_label(metric, label)
    _set_value(metric, value)
    _set_unit(metric, unit)
    _set_warn(metric, warn)
    _set_crit(metric, crit)
    _set_min(metric, low)
    _set_max(metric, high)
    return metric


def _read_unquoted(token: str, problems: list[PerfdataProblem]) -> Metric:
    """Read one whitespace-free metric whose label is not quoted."""
    eq = token.find("=")
    if eq <= 0:
        raise ValueError("empty label" if eq == 0 else "no '=' between label and value")
    label = token[:eq]
    if "'" in label:
        raise ValueError("quote inside an unquoted label")
    return _read_metric(label, token[eq + 1 :], problems)


def _closing_quote(text: str, pos: int) -> int:
    """Index of the quote closing a label whose text starts at pos, or -1; skips ''."""
    while True:
        quote = text.find("'", pos)
        if quote < 0 or not text.startswith("'", quote + 1):
            return quote
        pos = quote + 2


def _parse_quoted(
    text: str,
    metrics: list[Metric],
    errors: list[PerfdataError],
    problems: list[PerfdataProblem],
) -> None:
    """The general scanner, for text holding quotes: a quoted label may contain spaces."""
    pos = 0
    while (word := _WORD_RE.search(text, pos)) is not None:
        pos = word.end()
        token = word.group()
        try:
            if token[0] != "'":
                metrics.append(_read_unquoted(token, problems))
                continue
            start = word.start()
            close = _closing_quote(text, start + 1)
            rest = None if close < 0 else _REST_RE.match(text, close + 1)
            if rest is None or not rest.group().startswith("="):
                # Broken quoting: blame only this word and go on after it, so that the
                # metrics a stray quote would otherwise swallow still come out.
                if close < 0:
                    raise ValueError("unterminated quoted label")
                raise ValueError("quoted label not followed by '='")
            pos = rest.end()
            token = text[start:pos]
            label = text[start + 1 : close].replace("''", "'")
            if not label:
                raise ValueError("empty label")
            metrics.append(_read_metric(label, rest.group()[1:], problems))
        except ValueError as exc:
            errors.append(PerfdataError(token, str(exc)))


def parse_perfdata(text: str) -> ParsedPerfdata:
    """Read every metric of a perfdata string; never raises on a string."""
    metrics: list[Metric] = []
    errors: list[PerfdataError] = []
    problems: list[PerfdataProblem] = []
    if "'" in text:
        _parse_quoted(text, metrics, errors, problems)
    else:
        # Fast path: without quotes, labels cannot contain whitespace, so split() is exact.
        for token in text.split():
            try:
                metrics.append(_read_unquoted(token, problems))
            except ValueError as exc:
                errors.append(PerfdataError(token, str(exc)))
    return ParsedPerfdata(tuple(metrics), tuple(errors), tuple(problems))


def format_perfdata(metrics: Iterable[Metric]) -> str:
    """Canonical perfdata text of metrics, space separated; parse_perfdata reads it back."""
    return " ".join(metric.to_text() for metric in metrics)
