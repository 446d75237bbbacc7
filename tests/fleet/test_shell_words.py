"""z/OS names with national characters reach the LPAR's shell intact: `#` at the start of a
word is a comment to the shell and `$` a parameter, and both are valid in a stack's name."""

from __future__ import annotations

import shlex

import pytest

from fleet.connectors.base import command_line
from fleet.verify.collect import stack_commands
from lparsim.commands import _split_commands


@pytest.mark.parametrize("stack", ["#TCPIP", "$TCP#1", "TCP@IP", "TCPIP"])
def test_every_view_command_carries_the_stack_name_as_one_word(stack: str) -> None:
    for line in stack_commands(stack).values():
        assert shlex.split(line, comments=True)[-1] == stack  # as sh reads it
        [(_, words)] = _split_commands(line)  # as lparsim's shell reads it
        assert words[-1] == stack


def test_a_plain_name_is_left_unquoted_and_a_national_one_is_quoted() -> None:
    assert command_line("pasearch", "-t", "-p", "TCPIP") == "pasearch -t -p TCPIP"
    assert command_line("pasearch", "-t", "-p", "#TCPIP") == "pasearch -t -p '#TCPIP'"
    # Unquoted, the shell would have dropped the name: what the portal used to send.
    assert shlex.split("pasearch -t -p #TCPIP", comments=True) == ["pasearch", "-t", "-p"]
