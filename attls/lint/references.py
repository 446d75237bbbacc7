"""Lint of the statements' references: `dangling-reference` and `unused-object`."""

from __future__ import annotations

from collections.abc import Iterable

from attls.lint.findings import Finding, _label
from attls.policy.model import Policy, Statement

# --- references: dangling and unused ------------------------------------------------------------


def _references_of(statement: Statement) -> Iterable[tuple[str, str]]:
    """(target collection, name) of every `...Ref` in a statement and its inline blocks."""
    for field_name, param in type(statement).params():
        value = getattr(statement, field_name)
        if param.kind == "ref" and value is not None:
            assert param.target is not None
            yield param.target, value
        elif param.kind == "refs":
            assert param.target is not None
            for name in value:
                yield param.target, name
        elif param.kind == "block" and value is not None:
            yield from _references_of(value)
        elif param.kind == "blocks":
            for inner in value:
                yield from _references_of(inner)


def _references(policy: Policy) -> list[Finding]:
    findings: list[Finding] = []
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    referenced: set[tuple[str, str]] = set()
    for collection, statement in policy.statements():
        assert statement.name is not None
        owner = (collection, statement.name)
        targets: list[tuple[str, str]] = []
        for target in _references_of(statement):
            if target[1] in policy.collection(target[0]):
                targets.append(target)
                referenced.add(target)
            else:
                findings.append(
                    Finding(
                        "error",
                        "dangling-reference",
                        f"{_label(*owner)} names {_label(*target)}, which is not defined",
                        owner,
                        policy.locations.get(owner),
                    )
                )
        edges[owner] = targets
    # Everything reachable from a rule is in use.
    used: set[tuple[str, str]] = set()
    stack = [("rules", name) for name in policy.rules]
    while stack:
        node = stack.pop()
        if node in used:
            continue
        used.add(node)
        stack.extend(edges.get(node, ()))
    for collection, statement in policy.statements():
        assert statement.name is not None
        key = (collection, statement.name)
        if collection == "rules" or key in used:
            continue
        why = "only unused statements refer to it" if key in referenced else "nothing refers to it"
        findings.append(
            Finding(
                "warning",
                "unused-object",
                f"{_label(*key)} is not used by any rule: {why}",
                key,
                policy.locations.get(key),
            )
        )
    return findings
