"""Property tests: random valid policies round-trip; random damage raises only our error."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attls.errors import PolicySyntaxError
from attls.policy import parse_policy, render_policy

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
