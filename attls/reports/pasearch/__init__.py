"""Render and parse `pasearch -t` reports: the AT-TLS policy PAGENT has loaded into a stack.

The package keeps every public name of the former module `attls.reports.pasearch`:

* `layout`: the labels, and the columns real z/OS 3.1 prints values at;
* `model`: the parsed report (`PasearchReport`, `PasearchRule`, `TtlsAction` and its tree);
* `parse`: text to model (`parse_pasearch`, `parse_pasearch_images`);
* `render`: model to text (`render_pasearch`, `render_action`);
* `summary`: what a rule switches on (`effective_protocols`, `effective_ciphers`) and
  `pasearch_summary`.
"""

from __future__ import annotations

from attls.reports.pasearch.layout import (
    ACTION_FIELD_INDENT,
    ACTION_INDENT,
    ACTION_LABEL,
    ACTION_VALUE_COLUMN,
    ADDR_SECOND_LABELS,
    GSK_VALUE_COLUMN,
    HEADER_PREFIX,
    IMAGE_LABEL,
    LIST_KEYWORD_COLUMN,
    LIST_LABELS,
    NO_POLICIES,
    PROTOCOL_LABELS,
    RULE_LABEL,
    RULE_VALUE_COLUMN,
    SECOND_LABEL_COLUMN,
    SECOND_VALUE_COLUMN,
    SECTION_STARTS,
    TIME_SECOND_LABELS,
)
from attls.reports.pasearch.model import (
    ActionRef,
    AddrPair,
    ConditionSummary,
    Field,
    ListField,
    ListItem,
    Node,
    PasearchReport,
    PasearchRule,
    ReportWarning,
    Section,
    TtlsAction,
    find_node,
)
from attls.reports.pasearch.parse import parse_pasearch, parse_pasearch_images
from attls.reports.pasearch.render import render_action, render_pasearch
from attls.reports.pasearch.summary import effective_ciphers, effective_protocols, pasearch_summary

__all__ = [
    "ACTION_FIELD_INDENT",
    "ACTION_INDENT",
    "ACTION_LABEL",
    "ACTION_VALUE_COLUMN",
    "ADDR_SECOND_LABELS",
    "GSK_VALUE_COLUMN",
    "HEADER_PREFIX",
    "IMAGE_LABEL",
    "LIST_KEYWORD_COLUMN",
    "LIST_LABELS",
    "NO_POLICIES",
    "PROTOCOL_LABELS",
    "RULE_LABEL",
    "RULE_VALUE_COLUMN",
    "SECOND_LABEL_COLUMN",
    "SECOND_VALUE_COLUMN",
    "SECTION_STARTS",
    "TIME_SECOND_LABELS",
    "ActionRef",
    "AddrPair",
    "ConditionSummary",
    "Field",
    "ListField",
    "ListItem",
    "Node",
    "PasearchReport",
    "PasearchRule",
    "ReportWarning",
    "Section",
    "TtlsAction",
    "effective_ciphers",
    "effective_protocols",
    "find_node",
    "parse_pasearch",
    "parse_pasearch_images",
    "pasearch_summary",
    "render_action",
    "render_pasearch",
]
