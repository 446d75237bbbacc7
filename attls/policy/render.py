"""Writes a Policy as canonical policy-file text.

Canonical means: IBM's casing for every keyword and value, one parameter per line,
braces on lines of their own (as IBM's syntax diagrams ask), values in one column, and
a fixed order — statement types in the order of `model.COLLECTIONS`; rules by priority
(highest first, the order Policy Agent searches them) then name; everything else by
name; parameters in schema order. The same policy always renders to the same bytes,
so two versions can be compared with a plain diff.

Every name and value is checked before it is written (`attls.values.check_policy_word`):
a value with a line break, `#`, a brace or an invisible character would change what
Policy Agent reads, so rendering refuses it with `attls.values.ValueRefused` rather than
write a file whose meaning differs from the model. The design validates values long before
this; the check is the last line of defence for anything that got past.
"""

from __future__ import annotations

from typing import Any

import attls.values as safe
from attls.policy import values as v
from attls.policy.model import COLLECTIONS, Param, Policy, Statement

# Values start in this column (0-based) unless the keyword is longer.
VALUE_COLUMN = 34
INDENT = "  "


Comments = dict[tuple[Any, ...], str]
_REPEATS_KEPT = 4


def render_policy(policy: Policy, *, header: str | None = None, keep_comments: bool = False) -> str:
    """The canonical text of a policy. `header` lines become `#` comments at the top.

    With `keep_comments`, the comments the file had (`policy.comments`) are written again
    before the statement or parameter they stood before (a comment at the end of a line is
    moved to the line before it); comments not next to a statement are not kept.
    """
    comments: Comments | None = policy.comments if keep_comments else None
    out: list[str] = []
    if header:
        out.extend(f"# {line}".rstrip() for line in header.splitlines())
        out.append("")
    first = True
    for collection in COLLECTIONS:
        for statement in statements_in_order(policy, collection):
            if not first:
                out.append("")
            first = False
            path = (collection, statement.name)
            if comments is not None:
                _comment(out, comments.get(path), 0)
            _statement(out, statement, 0, comments, path)
    out.append("")
    return "\n".join(out)


def _comment(out: list[str], comment: str | None, depth: int) -> None:
    if comment:
        out.extend(INDENT * depth + line for line in comment.split("\n"))


def render_statement(statement: Statement) -> str:
    """One top-level statement in canonical form (for previews of a single object)."""
    out: list[str] = []
    _statement(out, statement, 0)
    out.append("")
    return "\n".join(out)


def statements_in_order(policy: Policy, collection: str) -> list[Statement]:
    """The statements of one type in canonical order: rules as Policy Agent searches them
    (priority, highest first, then name), everything else by name."""
    statements = list(policy.collection(collection).values())
    if collection == "rules":
        statements.sort(key=lambda statement: statement.search_key)  # type: ignore[attr-defined]
    else:
        statements.sort(key=lambda statement: statement.name or "")
    return statements


def _line(out: list[str], depth: int, keyword: str, value: str | None) -> None:
    lead = INDENT * depth + keyword
    if value is None:
        out.append(lead)
    elif len(lead) < VALUE_COLUMN:
        out.append(lead.ljust(VALUE_COLUMN) + value)
    else:
        out.append(f"{lead} {value}")


def _checked(value: str, statement: Statement, keyword: str, param: Param | None) -> str:
    """`value` when it will be read back as written; otherwise refuses naming where it is."""
    words = param is not None and param.read is v.read_words
    if safe.policy_word_problem(value, words=words) is None:
        return value
    if param is None:  # the name itself: never repeat it in the message
        what = f"the name of a {keyword}"
    else:  # the statement's name was checked before its parameters
        where = f"{statement.STATEMENT} {statement.name}" if statement.name else statement.STATEMENT
        what = f"{where}: {keyword}"
    return safe.check_policy_word(value, what=what, words=words)


def _statement(
    out: list[str],
    statement: Statement,
    depth: int,
    comments: Comments | None = None,
    path: tuple[Any, ...] = (),
) -> None:
    _named(out, depth, statement.STATEMENT, statement)
    _block_body(out, statement, depth, comments, path)


def _named(out: list[str], depth: int, keyword: str, statement: Statement) -> None:
    name = statement.name
    _line(out, depth, keyword, None if name is None else _checked(name, statement, keyword, None))


def _block_body(
    out: list[str],
    statement: Statement,
    depth: int,
    comments: Comments | None = None,
    path: tuple[Any, ...] = (),
) -> None:
    indent = INDENT * depth
    out.append(indent + "{")
    inner = depth + 1
    for field_name, param in type(statement).params():
        value = getattr(statement, field_name)
        kind = param.kind
        keyword = param.keyword
        if comments is not None and kind in ("value", "ref", "block") and value is not None:
            # A parameter given more than once (Policy Agent tolerates it) keeps the comments
            # of its first few lines.
            for occurrence in range(_REPEATS_KEPT):
                _comment(out, comments.get((*path, keyword.lower(), occurrence)), inner)
        if kind == "value":
            if value is not None:
                assert param.write is not None
                _line(out, inner, keyword, _checked(param.write(value), statement, keyword, param))
        elif kind == "list":
            assert param.write is not None
            for index, item in enumerate(value):
                if comments is not None:
                    _comment(out, comments.get((*path, keyword.lower(), index)), inner)
                _line(out, inner, keyword, _checked(param.write(item), statement, keyword, param))
        elif kind == "ref":
            if value is not None:
                _line(out, inner, keyword, _checked(value, statement, keyword, param))
        elif kind == "refs":
            for index, name in enumerate(value):
                if comments is not None:
                    _comment(out, comments.get((*path, keyword.lower(), index)), inner)
                _line(out, inner, keyword, _checked(name, statement, keyword, param))
        elif kind == "block":
            if value is not None:
                _inline(out, keyword, value, inner, comments, (*path, keyword.lower(), 0))
        else:  # blocks
            for index, item in enumerate(value):
                step = (*path, keyword.lower(), index)
                if comments is not None:
                    _comment(out, comments.get(step), inner)
                _inline(out, keyword, item, inner, comments, step)
    out.append(indent + "}")


def _inline(
    out: list[str],
    keyword: str,
    statement: Statement,
    depth: int,
    comments: Comments | None = None,
    path: tuple[Any, ...] = (),
) -> None:
    _named(out, depth, keyword, statement)
    _block_body(out, statement, depth, comments, path)


__all__ = ["render_policy", "render_statement", "statements_in_order"]
