"""The errors the attls library raises for bad input.

Every error names where in the input it was found (line and column, 1-based), so a
person can go straight to the spot. A parse collects all problems it can find before
raising, so one round trip shows every mistake in a file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, at a 1-based line and column."""

    line: int
    column: int
    message: str
    # The file, when a problem comes from one of several files read together.
    source: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}line {self.line}, column {self.column}: {self.message}"


class AttlsError(Exception):
    """Base class of every error raised for bad input by the attls library."""


class PolicySyntaxError(AttlsError):
    """A policy or pagent.conf file that cannot be accepted.

    `problems` lists every problem found, in file order; `line`, `column` and
    `message` are those of the first one.
    """

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        if not problems:
            raise ValueError("PolicySyntaxError needs at least one problem")
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        self.source = source
        first = self.problems[0]
        self.line = first.line
        self.column = first.column
        self.message = first.message
        super().__init__(self._summary())

    def _summary(self) -> str:
        first = self.problems[0]
        where = f"{self.source}: " if self.source and not first.source else ""
        head = f"{where}{first}"
        more = len(self.problems) - 1
        return head if more == 0 else f"{head} (and {more} more)"


class ReportParseError(AttlsError):
    """A pasearch or netstat report that cannot be read, at a 1-based line."""

    def __init__(self, line: int, message: str, column: int = 1) -> None:
        self.line = line
        self.column = column
        self.message = message
        super().__init__(f"line {line}: {message}")
