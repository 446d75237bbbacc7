"""Does a policy text read back as the model published next to it?

Publishing freezes a policy's text next to its model (the JSON of `policy_to_dict`). If the
two ever disagreed, PAGENT would install something no one designed, reviewed or linted: a
value with a line break can smuggle a whole rule into the text. So publishing reads its own
text again and compares it with the model, and versions stored before that check existed
are read again by the same function.
"""

from __future__ import annotations

import json
from typing import Any

from attls.errors import PolicySyntaxError
from attls.policy.model import COLLECTIONS, Policy
from attls.policy.parser import parse_policy
from attls.policy.serialize import policy_to_dict

# A refusal lists at most this many differences: one is enough to refuse, a few help to fix.
SHOWN = 5

Model = dict[str, list[dict[str, Any]]]


def text_model_differences(text: str, model: Model, *, policy: Policy | None = None) -> list[str]:
    """How `text`, read as a policy file, differs from `model`; empty when it is the same.

    `model` is `policy_to_dict` of the policy the text claims to be (as stored: JSON).
    `policy`, when given, is that policy itself: reading back an equal one settles it
    without serialising (the common case, and the one publishing times).
    """
    try:
        parsed = parse_policy(text)
    except PolicySyntaxError as error:
        return [f"the text does not parse: {problem}" for problem in error.problems[:SHOWN]]
    if policy is not None and parsed == policy:
        return []
    read_back = policy_to_dict(parsed)
    if read_back == model:
        return []
    # Compare as JSON, the form the model is stored in (tuples become lists, and so on).
    read_back = json.loads(json.dumps(read_back))
    if read_back == model:
        return []
    found: list[str] = []
    for collection, cls in COLLECTIONS.items():
        ours = {str(s.get("name")): s for s in model.get(collection, [])}
        theirs = {str(s.get("name")): s for s in read_back.get(collection, [])}
        for name in sorted(set(ours) | set(theirs)):
            if name not in theirs:
                found.append(f"{cls.STATEMENT} {name} is in the design but not in the text")
            elif name not in ours:
                found.append(f"{cls.STATEMENT} {name} is in the text but not in the design")
            else:
                found.extend(_statement(f"{cls.STATEMENT} {name}", ours[name], theirs[name]))
            if len(found) >= SHOWN:
                return found[:SHOWN]
    return found or ["the statements are the same but not in the model's order"]


def _statement(where: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    return [
        f"{where}: {keyword} is {_shown(ours.get(keyword))} in the design"
        f" but {_shown(theirs.get(keyword))} in the text"
        for keyword in sorted(set(ours) | set(theirs))
        if ours.get(keyword) != theirs.get(keyword)
    ]


def _shown(value: Any) -> str:
    if value is None:
        return "not set"
    return json.dumps(value, ensure_ascii=True)[:120]


def stored_text_problem(text: str, model: Model) -> str | None:
    """Why a stored version's text cannot be trusted as its model, or None when it can."""
    differences = text_model_differences(text, model)
    if not differences:
        return None
    if differences[0].startswith("the text does not parse"):
        return "Its text does not parse: " + differences[0].removeprefix(
            "the text does not parse: "
        )
    return "Its text reads as a policy other than its model: " + "; ".join(differences)
