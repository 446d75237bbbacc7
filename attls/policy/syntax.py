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

import re
from collections.abc import Iterator

from attls.errors import Problem


class Node:
    """One statement or parameter: its keyword, the words after it, and its block if any."""

    __slots__ = ("args", "children", "comment", "line", "word_index")

    def __init__(self, line: int, word_index: int, args: list[str]) -> None:
        self.line = line
        self.word_index = word_index
        self.args = args  # args[0] is the keyword as written
        self.children: list[Node] | None = None
        # The comment lines just before the node, and a comment at the end of its line, as
        # written (each with its '#'); None when there are none.
        self.comment: str | None = None

    @property
    def keyword(self) -> str:
        return self.args[0]

    @property
    def values(self) -> list[str]:
        return self.args[1:]


# A word: a quoted value (kept with its quotes), a brace, or a run of other non-blanks.
# Quoting is not in IBM's syntax diagrams; see values.unquote for how quoted values are read.
_WORD = re.compile(r'"[^"]*"?|[{}]|[^\s{}"]+')

# Past this many problems a file is not worth reading further: the parse stops and says so,
# which keeps a hostile file (a megabyte of braces) from costing more than a moment.
MAX_PROBLEMS = 1000
# AT-TLS statements nest three deep at most (TTLSEnvironmentAction > TTLSGskAdvancedParms >
# TTLSGskLdapParms); deeper nesting is never a policy, and reading it would only cost time.
MAX_DEPTH = 8


class SourceText:
    """The lines of a file, for turning (line, word index) into a 1-based column.

    The word starts of a line are computed once, the first time a problem on that line needs
    a column, so reporting many problems on one long line stays linear in its length.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # Per line: the word starts found so far, and the scan that finds more on demand.
        self._starts: dict[int, tuple[list[int], Iterator[re.Match[str]], str]] = {}

    def column(self, line: int, word_index: int) -> int:
        if not 1 <= line <= len(self.lines):
            return 1
        known = self._starts.get(line)
        if known is None:
            raw = _code_part(self.lines[line - 1])
            if word_index == 0 and raw.strip() and raw.lstrip()[0] not in '{}"':
                # The first word, the common case (where a statement starts): no scan.
                return len(raw) - len(raw.lstrip()) + 1
            known = self._starts[line] = ([], _WORD.finditer(raw), raw)
        starts, scan, raw = known
        while len(starts) <= word_index:
            found = next(scan, None)
            if found is None:
                return len(raw.rstrip()) + 1
            starts.append(found.start())
        return starts[max(word_index, 0)] + 1

    def problem(self, line: int, word_index: int, message: str) -> Problem:
        return Problem(line, self.column(line, word_index), message)


def _code_part(line: str) -> str:
    hash_at = line.find("#")
    return line if hash_at < 0 else line[:hash_at]


def _not_keywords(source: SourceText, line: int, word_index: int) -> Problem:
    return source.problem(
        line,
        word_index,
        f"more than {MAX_PROBLEMS} lines start with a word that is not an AT-TLS keyword;"
        " the rest of the file was not read",
    )


def stopped_reading(source: SourceText, line: int, word_index: int) -> Problem:
    return source.problem(
        line, word_index, f"more than {MAX_PROBLEMS} problems; the rest of the file was not read"
    )


def iter_words(code: str) -> Iterator[str]:
    """The words of the code part of a line: braces and quoted values are words of their own.

    An iterator, so a parse that gives up early on a hostile line does not split all of it.
    """
    if '"' in code:
        return (match.group() for match in _WORD.finditer(code))
    if "{" in code or "}" in code:
        return iter(code.replace("{", " { ").replace("}", " } ").split())
    return iter(code.split())


def parse_tree(
    text: str, source: SourceText, known: frozenset[str] | None = None
) -> tuple[list[Node], list[Problem]]:
    """Reads the statement tree of a whole file, with every brace problem found.

    With `known` (keywords in lower case), reading stops once more than MAX_PROBLEMS
    statements start with a word that is not one: each would be a problem anyway, and a
    file of a million such lines is not a policy.
    """
    unknown = 0
    problems: list[Problem] = []
    top: list[Node] = []
    # Each level: the list its statements go into, and the node whose block it is.
    stack: list[tuple[list[Node], Node | None]] = [(top, None)]
    siblings = top
    previous: Node | None = None  # the last statement at the current level, may take a block
    previous_open = False  # whether `previous` could still take a `{`

    pending: list[str] = []  # comment lines not yet given to a node
    for number, raw in enumerate(text.splitlines(), start=1):
        hash_at = raw.find("#")
        code = raw if hash_at < 0 else raw[:hash_at]
        if hash_at >= 0 and not code.strip():
            pending.append(raw.strip())
            continue
        if "{" not in code and "}" not in code and '"' not in code:
            # The common line, one parameter and its values: one node, no word loop.
            words = code.split()
            if not words:
                continue
            keyword = words[0]
            if known is not None and keyword not in known and keyword.lower() not in known:
                unknown += 1
                if unknown > MAX_PROBLEMS:
                    problems.append(_not_keywords(source, number, 0))
                    return top, problems
            node = Node(number, 0, words)
            siblings.append(node)
            previous, previous_open = node, True
            if pending:
                node.comment = "\n".join(pending)
                pending = []
            if hash_at >= 0:
                trailing = raw[hash_at:].strip()
                node.comment = f"{node.comment}\n{trailing}" if node.comment else trailing
            continue
        current: Node | None = None  # the statement whose words this line is adding to
        first: Node | None = None  # the first statement that starts on this line
        for index, word in enumerate(iter_words(code)):
            if word != "{" and word != "}":
                if current is None:
                    if known is not None and word not in known and word.lower() not in known:
                        unknown += 1
                        if unknown > MAX_PROBLEMS:
                            problems.append(_not_keywords(source, number, index))
                            return top, problems
                    current = Node(number, index, [word])
                    siblings.append(current)
                    previous, previous_open = current, True
                    if first is None:
                        first = current
                        if pending:
                            current.comment = "\n".join(pending)
                            pending = []
                else:
                    current.args.append(word)
                continue
            current = None
            if len(problems) >= MAX_PROBLEMS:
                problems.append(stopped_reading(source, number, index))
                return top, problems
            if word == "{":
                if len(stack) > MAX_DEPTH:
                    problems.append(
                        source.problem(
                            number,
                            index,
                            f"blocks nested more than {MAX_DEPTH} deep; the rest of the file"
                            " was not read",
                        )
                    )
                    return top, problems
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
            elif len(stack) == 1:
                problems.append(source.problem(number, index, "'}' has no matching '{'"))
            else:
                closed = stack.pop()[1]
                siblings = stack[-1][0]
                previous, previous_open = closed, False
        if hash_at >= 0:
            trailing = raw[hash_at:].strip()
            if first is None:
                pending.append(trailing)
            else:
                first.comment = f"{first.comment}\n{trailing}" if first.comment else trailing

    for _, owner in reversed(stack[1:]):
        assert owner is not None
        if len(problems) >= MAX_PROBLEMS:
            problems.append(stopped_reading(source, owner.line, owner.word_index))
            break
        problems.append(
            source.problem(owner.line, owner.word_index, f"'{owner.keyword}' block is never closed")
        )
    return top, problems
