"""A Policy as plain JSON-ready data, in policy-file spelling.

Each top-level statement becomes `{"statement": ..., "name": ..., <Keyword>: value}`
with values written exactly as in the policy file (`"On"`, `"7553-7554"`, cipher names),
lists as lists and inline blocks as nested objects. The published version keeps this
next to its text so the API and reports can read a version without parsing it.
"""

from __future__ import annotations

from typing import Any

from attls.policy.model import COLLECTIONS, Policy, Statement
from attls.policy.render import statements_in_order


def statement_to_dict(statement: Statement) -> dict[str, Any]:
    data: dict[str, Any] = {"statement": statement.STATEMENT}
    if statement.name is not None:
        data["name"] = statement.name
    for field_name, param in type(statement).params():
        value = getattr(statement, field_name)
        if param.kind == "value" and value is not None:
            assert param.write is not None
            data[param.keyword] = param.write(value)
        elif param.kind == "list" and value:
            assert param.write is not None
            data[param.keyword] = [param.write(item) for item in value]
        elif param.kind == "ref" and value is not None:
            data[param.keyword] = value
        elif param.kind == "refs" and value:
            data[param.keyword] = list(value)
        elif param.kind == "block" and value is not None:
            data[param.keyword] = statement_to_dict(value)
        elif param.kind == "blocks" and value:
            data[param.keyword] = [statement_to_dict(item) for item in value]
    return data


def policy_to_dict(policy: Policy) -> dict[str, list[dict[str, Any]]]:
    """Statements grouped by type, each list in the canonical order of the rendered file."""
    return {
        collection: [statement_to_dict(s) for s in statements_in_order(policy, collection)]
        for collection in COLLECTIONS
        if policy.collection(collection)
    }
