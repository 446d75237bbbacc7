"""Writes a Policy as canonical policy-file text.

Canonical means: IBM's casing for every keyword and value, one parameter per line,
braces on lines of their own (as IBM's syntax diagrams ask), values in one column, and
a fixed order — statement types in the order of `model.COLLECTIONS`; rules by priority
(highest first, the order Policy Agent searches them) then name; everything else by
name; parameters in schema order. The same policy always renders to the same bytes,
so two versions can be compared with a plain diff.
"""

from __future__ import annotations

from attls.policy.model import COLLECTIONS, Policy, Statement

# Values start in this column (0-based) unless the keyword is longer.
VALUE_COLUMN = 34
INDENT = "  "


def render_policy(policy: Policy, *, header: str | None = None) -> str:
    """The canonical text of a policy. `header` lines become `#` comments at the top."""
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
            _statement(out, statement, 0)
    out.append("")
    return "\n".join(out)


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


def _statement(out: list[str], statement: Statement, depth: int) -> None:
    _line(out, depth, statement.STATEMENT, statement.name)
    _block_body(out, statement, depth)


def _block_body(out: list[str], statement: Statement, depth: int) -> None:
    indent = INDENT * depth
    out.append(indent + "{")
    inner = depth + 1
    for field_name, param in type(statement).params():
        value = getattr(statement, field_name)
        kind = param.kind
        if kind == "value":
            if value is not None:
                assert param.write is not None
                _line(out, inner, param.keyword, param.write(value))
        elif kind == "list":
            assert param.write is not None
            for item in value:
                _line(out, inner, param.keyword, param.write(item))
        elif kind == "ref":
            if value is not None:
                _line(out, inner, param.keyword, value)
        elif kind == "refs":
            for name in value:
                _line(out, inner, param.keyword, name)
        elif kind == "block":
            if value is not None:
                _inline(out, param.keyword, value, inner)
        else:  # blocks
            for item in value:
                _inline(out, param.keyword, item, inner)
    out.append(indent + "}")


def _inline(out: list[str], keyword: str, statement: Statement, depth: int) -> None:
    _line(out, depth, keyword, statement.name)
    _block_body(out, statement, depth)


__all__ = ["render_policy", "render_statement", "statements_in_order"]
