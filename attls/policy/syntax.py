"""The generic shape of Policy Agent configuration files, before any meaning is given.

    StatementType [name-or-values ...]
    {
      Parameter value ...
      InlineStatement [name]
      {
        ...
      }
    }

`#` starts a comment that runs to the end of the line. Braces are usually on lines of
their own (IBM's syntax diagrams ask for that), but `IpAddr { Addr 10.1.1.1 }` is read
too. There is no line continuation: every statement or parameter is one line.

The result is a tree of `Node`s that remember the line and word where they began, so
the next stage can point at the exact column of a mistake.
"""

from __future__ import annotations

from attls.errors import Problem


class Node:
    """One statement or parameter: its keyword, the words after it, and its block if any."""

    __slots__ = ("args", "children", "line", "word_index")

    def __init__(self, line: int, word_index: int, args: list[str]) -> None:
        self.line = line
        self.word_index = word_index
        self.args = args  # args[0] is the keyword as written
        self.children: list[Node] | None = None

    @property
    def keyword(self) -> str:
        return self.args[0]

    @property
    def values(self) -> list[str]:
        return self.args[1:]


class SourceText:
    """The lines of a file, for turning (line, word index) into a 1-based column."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def column(self, line: int, word_index: int) -> int:
        if not 1 <= line <= len(self.lines):
            return 1
        raw = _code_part(self.lines[line - 1])
        position = 0
        index = -1
        length = len(raw)
        while position < length:
            while position < length and raw[position] in " \t":
                position += 1
            if position >= length:
                break
            index += 1
            if raw[position] in "{}":
                if index == word_index:
                    return position + 1
                position += 1
                continue
            if index == word_index:
                return position + 1
            while position < length and raw[position] not in " \t{}":
                position += 1
        return position + 1

    def problem(self, line: int, word_index: int, message: str) -> Problem:
        return Problem(line, self.column(line, word_index), message)


def _code_part(line: str) -> str:
    hash_at = line.find("#")
    return line if hash_at < 0 else line[:hash_at]


def parse_tree(text: str, source: SourceText) -> tuple[list[Node], list[Problem]]:
    """Reads the statement tree of a whole file, with every brace problem found."""
    problems: list[Problem] = []
    top: list[Node] = []
    # Each level: the list its statements go into, and the node whose block it is.
    stack: list[tuple[list[Node], Node | None]] = [(top, None)]
    siblings = top
    previous: Node | None = None  # the last statement at the current level, may take a block
    previous_open = False  # whether `previous` could still take a `{`

    for number, raw in enumerate(text.splitlines(), start=1):
        hash_at = raw.find("#")
        code = raw if hash_at < 0 else raw[:hash_at]
        if "{" in code or "}" in code:
            words = code.replace("{", " { ").replace("}", " } ").split()
        else:
            words = code.split()
        if not words:
            continue
        index = 0
        count = len(words)
        while index < count:
            word = words[index]
            if word == "{":
                if previous is None or not previous_open:
                    problems.append(
                        source.problem(number, index, "'{' does not follow a statement")
                    )
                    # Keep the tree balanced so later braces still pair up.
                    orphan = Node(number, index, ["{"])
                    orphan.children = []
                    stack.append((orphan.children, orphan))
                else:
                    previous.children = []
                    stack.append((previous.children, previous))
                siblings = stack[-1][0]
                previous, previous_open = None, False
                index += 1
            elif word == "}":
                if len(stack) == 1:
                    problems.append(source.problem(number, index, "'}' has no matching '{'"))
                else:
                    closed = stack.pop()[1]
                    siblings = stack[-1][0]
                    previous, previous_open = closed, False
                index += 1
            else:
                end = index + 1
                while end < count and words[end] != "{" and words[end] != "}":
                    end += 1
                node = Node(number, index, words[index:end])
                siblings.append(node)
                previous, previous_open = node, True
                index = end

    for _, owner in reversed(stack[1:]):
        assert owner is not None
        problems.append(
            source.problem(owner.line, owner.word_index, f"'{owner.keyword}' block is never closed")
        )
    return top, problems
