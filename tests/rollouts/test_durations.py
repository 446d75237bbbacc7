"""Durations as the campaign form and the API read them, and as pages print them."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollouts.durations import MAX_SECONDS, DurationRefused, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 604800),
        ("2m", 120),
        ("30s", 30),
        ("90", 90),
        ("1h30m", 5400),
        (" 1d 12h ", 129600),
        ("2W", 1209600),
    ],
)
def test_a_duration_reads_in_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", "is not a duration"),
        ("7x", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("-3s", "is not a duration"),
        ("0s", "at least 1 second"),
        ("30m1h", "largest first"),
        ("1m1m", "each unit once"),
        ("367d", "At most 366 days"),
    ],
)
def test_what_is_not_a_duration_is_refused_with_what_is_accepted(text, line):
    with pytest.raises(DurationRefused, match=line):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=MAX_SECONDS))
def test_a_printed_duration_reads_back_as_itself(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=20))
def test_any_text_gives_seconds_or_our_refusal(text):
    with contextlib.suppress(DurationRefused):
        assert 1 <= parse_duration(text) <= MAX_SECONDS


@pytest.mark.parametrize("text", ["²", "3²s", "٣s"])
def test_digits_other_than_ascii_are_refused(text):
    with pytest.raises(DurationRefused):
        parse_duration(text)
