"""Property tests: random valid policies round-trip; random damage raises only our error."""

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attls.errors import PolicySyntaxError
from attls.policy import parse_policy, read_policy, render_policy
from attls.textcodec import encode_ebcdic

from .strategies import policies

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policies())
def test_a_random_valid_policy_survives_render_and_parse_unchanged(policy):
    text = render_policy(policy)

    assert parse_policy(text) == policy
    assert render_policy(parse_policy(text)) == text


@st.composite
def damaged(draw):
    policy = draw(policies())
    lines = render_policy(policy).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(
            st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate", "edit"])
        )
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif action == "insert":
            lines.insert(at, draw(st.text(max_size=40)))
        elif action == "truncate":
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        else:
            line = lines[at]
            position = draw(st.integers(0, len(line)))
            lines[at] = line[:position] + draw(st.text(min_size=1, max_size=3)) + line[position:]
    return "\n".join(lines)


@SETTINGS
@given(damaged())
def test_a_damaged_policy_raises_only_a_policy_syntax_error(text):
    try:
        parse_policy(text)
    except PolicySyntaxError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.line >= 1 and problem.column >= 1
            assert problem.message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), st.sampled_from(["IBM-1047", "IBM-037"]))
def test_a_policy_rendered_in_ebcdic_reads_back_as_the_same_model(policy, code_page):
    text = render_policy(policy)
    reading = read_policy(encode_ebcdic(text, code_page))

    assert reading.encoding == "IBM-1047"  # detected; the code pages agree on policy text
    assert reading.errors == ()
    assert reading.policy == policy


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=4096), st.integers(1, 25))
def test_random_bytes_raise_nothing_and_100_kb_of_them_read_within_a_second(chunk, copies):
    data = (chunk * (100_000 // max(len(chunk), 1) + 1))[:100_000] if chunk else b""
    data = data[: 4096 * copies]
    started = time.process_time()
    reading = read_policy(data)  # never raises: errors are returned
    assert time.process_time() - started < 1.0
    for problem in (*reading.errors, *reading.warnings):
        assert problem.line >= 1 and problem.column >= 1
    if reading.errors:  # parse_policy raises our error and nothing else
        with pytest.raises(PolicySyntaxError):
            parse_policy(data)
    else:
        assert parse_policy(data) == reading.policy


def test_100_kb_of_random_bytes_read_within_a_second():
    rng = random.Random(11)
    for _ in range(5):
        data = rng.randbytes(100_000)
        started = time.process_time()
        read_policy(data)
        assert time.process_time() - started < 1.0
